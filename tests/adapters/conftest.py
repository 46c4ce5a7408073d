"""Fixtures for adapter tests that need a real database.

``db_url`` gives a fresh, empty database for each test, once on SQLite (a file in tmp_path) and
once on PostgreSQL (a uniquely named database created on the server at
``HOTLINE_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``, and dropped after
the test). The PostgreSQL case is marked ``postgres`` and is skipped, with the connection error as
the reason, only when that server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from support.app import service_app  # noqa: F401  (the shared app fixture, registered by this import)

from storage.engine import sync_url

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_admin_url() -> str:
    return os.environ.get("HOTLINE_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


def _pg_connect() -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(_pg_admin_url(), autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_unreachable() -> str | None:
    """Why the PostgreSQL test server cannot be used, or None when it can."""
    try:
        with _pg_connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL server at {make_url(_pg_admin_url())!r} unreachable: {exc}".strip()
    return None


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cdr.db'}"


@pytest.fixture
def postgres_url(postgres_unreachable: str | None) -> Iterator[str]:
    if postgres_unreachable is not None:
        pytest.skip(postgres_unreachable)
    name = f"hotline_test_{uuid.uuid4().hex[:16]}"
    with _pg_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with _pg_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """URL of an empty database (no schema yet), as a user would write it in the configuration."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def sync_engine(db_url: str) -> Iterator[Engine]:
    """A synchronous engine on the test database, for inspecting what the migrations made."""
    engine = create_engine(sync_url(db_url))
    yield engine
    engine.dispose()
