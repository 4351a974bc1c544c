"""What every part of bgcheck runs on: settings, the database and its migrations, logs,
the worker, the errors bgcheck raises on purpose, private files, CSV and rate limits."""
