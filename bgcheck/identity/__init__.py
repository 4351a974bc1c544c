"""Who is asking: users and their roles, passwords, tokens and their revocation,
second factors, single sign-on, account approvals and the CORI need-to-know list."""
