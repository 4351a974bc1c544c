"""Helpers for tests: real components (a local identity provider, factories), no mocks."""
