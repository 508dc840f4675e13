"""Fixtures for SQLite and PostgreSQL databases (filled in with storage)."""
