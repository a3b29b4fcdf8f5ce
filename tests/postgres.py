"""PostgreSQL for the tests: a real server, and a fresh empty database per test.

``postgres_server`` (session) is the URL of a server the tests may create
databases on, ``postgresql://user@host:port/postgres``:

- ``MBX_TEST_POSTGRES`` set: that URL (CI starts one server for the whole run
  and sets it; ``tests/pgserver.py`` is how).
- otherwise a throwaway server of our own (``pgserver.Server``) in a temporary
  folder, started on first use and removed at the end of the session. No server
  binaries is a failure that says how to install them, never a skip.

``postgres_url`` (function) creates a database with a unique name on that
server, yields its URL and drops it afterwards, whatever the test left
connected; ``fresh_database(postgres_server)`` makes more of them in one test.
``tests/conftest.py`` imports both fixtures.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

import pgserver

#: The variable naming an existing server to use instead of starting one.
ENVIRONMENT = "MBX_TEST_POSTGRES"


def _psycopg():
    try:
        import psycopg
    except ImportError:
        pytest.fail('psycopg 3 is missing: pip install ".[test]" (it brings psycopg[binary])',
                    pytrace=False)
    return psycopg


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def with_database(url: str, name: str) -> str:
    """``url`` with its database (the path) replaced by ``name``; the rest kept."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _check_reachable(url: str) -> None:
    psycopg = _psycopg()
    try:
        with psycopg.connect(url, connect_timeout=10) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        problem = str(error)
    else:
        return
    pytest.fail(f"{ENVIRONMENT}={_shown(url)}: cannot connect: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a PostgreSQL server to create test databases on."""
    given = os.environ.get(ENVIRONMENT, "").strip()
    if given:
        if not given.startswith(("postgresql://", "postgres://")):
            pytest.fail(f"{ENVIRONMENT} must be a URL, postgresql://user@host:port/postgres, "
                        f"not {_shown(given)!r}", pytrace=False)
        _check_reachable(given)
        yield given
        return
    server = pgserver.Server(tempfile.mkdtemp(prefix="mbx-pg-"))
    try:
        try:
            url = server.start()
        except pgserver.ServerError as error:
            problem = str(error)
        else:
            problem = None
        if problem:
            pytest.fail(f"cannot start a PostgreSQL server for the tests: {problem}",
                        pytrace=False)
        yield url
    finally:
        server.stop()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database (UTF-8, C locale) with a unique name on the server at
    ``server_url``: yields its URL, then drops it, ending whatever connections to it
    are still open. ``postgres_url`` is this; call it for a second database."""
    psycopg = _psycopg()
    from psycopg import sql

    name = f"mbx_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' "
                              "LC_COLLATE 'C' LC_CTYPE 'C'").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            for attempt in range(10):
                # connections the test left open (or a pool still closing) block the drop
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                try:
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                        sql.Identifier(name)))
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 9:
                        raise
                    time.sleep(0.1)


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a new, empty database, dropped after the test (``fresh_database``)."""
    with fresh_database(postgres_server) as url:
        yield url
