"""Alembic migration environment of the call records store (see cdr.db.upgrade)."""
