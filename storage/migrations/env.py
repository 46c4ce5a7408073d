"""Alembic environment for the call records schema.

Configured programmatically by ``cdr.db`` (no alembic.ini): the caller either hands over an open
synchronous ``Connection`` in ``config.attributes["connection"]`` or a synchronous SQLAlchemy URL
in ``config.attributes["url"]``. Offline (``--sql``) mode uses the URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

# Revisions are written out by hand (a migration must not change when the rows do), so the
# environment needs no metadata; hotline.schema gathers every feature's rows for comparisons.
target_metadata = None


def _run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("cdr migrations: no database given; use storage.engine.upgrade(url)")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run_with(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
