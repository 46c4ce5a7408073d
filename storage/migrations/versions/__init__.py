"""Alembic revisions of the call records schema."""
