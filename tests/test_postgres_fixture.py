"""The PostgreSQL fixtures give a real server and databases that are fresh, empty,
isolated from each other and gone after use."""

from __future__ import annotations

import os
import stat
from urllib.parse import urlsplit

import psycopg
import pytest

import pgserver
from postgres import ENVIRONMENT, fresh_database, with_database


def _database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url) as connection:
        row = connection.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone()
    return row[0] == 1


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
    return [name for (name,) in rows]


def test_the_server_is_postgresql_13_or_newer(postgres_server):
    with psycopg.connect(postgres_server) as connection:
        version = int(connection.execute("SHOW server_version_num").fetchone()[0])
        banner = connection.execute("SELECT version()").fetchone()[0]
    assert version >= 130000, banner
    assert banner.startswith("PostgreSQL ")


def test_the_urls_have_the_documented_shape(postgres_server, postgres_url):
    server, database = urlsplit(postgres_server), urlsplit(postgres_url)
    assert server.scheme == database.scheme == "postgresql"
    assert server.hostname and server.port and server.username
    assert (database.hostname, database.port, database.username) == \
           (server.hostname, server.port, server.username)
    name = database.path.removeprefix("/")
    assert name.startswith("mbx_test_") and name != server.path.removeprefix("/")
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT current_database()").fetchone()[0] == name
        assert connection.execute("SHOW server_encoding").fetchone()[0] == "UTF8"


def test_a_new_database_is_empty(postgres_url):
    assert _tables(postgres_url) == []


def test_a_table_in_one_database_is_not_in_another(postgres_server, postgres_url):
    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE course (id integer PRIMARY KEY, fullname text)")
        connection.execute("INSERT INTO course VALUES (1, 'Démo ✓'), (2, 'Second')")
    with psycopg.connect(postgres_url) as connection:  # committed: a new session sees it
        assert connection.execute("SELECT id, fullname FROM course ORDER BY id").fetchall() \
               == [(1, "Démo ✓"), (2, "Second")]
    with fresh_database(postgres_server) as other:
        assert other != postgres_url
        assert _tables(other) == []
        with psycopg.connect(other) as connection:
            assert connection.execute("SELECT to_regclass('course')").fetchone()[0] is None
            with pytest.raises(psycopg.errors.UndefinedTable):
                connection.execute("SELECT * FROM course")
    assert _tables(postgres_url) == ["public.course"]


def test_a_rolled_back_transaction_leaves_nothing(postgres_url):
    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE kept (id integer)")
        connection.commit()
        with connection.transaction(force_rollback=True):
            connection.execute("CREATE TABLE dropped (id integer)")
            connection.execute("INSERT INTO kept VALUES (1), (2), (3)")
            assert connection.execute("SELECT count(*) FROM kept").fetchone()[0] == 3
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT count(*) FROM kept").fetchone()[0] == 0
        assert connection.execute("SELECT to_regclass('dropped')").fetchone()[0] is None
    assert _tables(postgres_url) == ["public.kept"]


def test_a_database_is_dropped_after_use_even_with_connections_left_open(postgres_server):
    with fresh_database(postgres_server) as url:
        name = urlsplit(url).path.removeprefix("/")
        assert _database_exists(postgres_server, name)
        left_open = psycopg.connect(url)  # a test that forgot to close
        left_open.execute("CREATE TABLE t (id integer)")
        left_open.commit()
    try:
        assert not _database_exists(postgres_server, name)
        with pytest.raises(psycopg.OperationalError):  # its session was ended by the drop
            left_open.execute("SELECT 1")
    finally:
        left_open.close()


def test_with_database_replaces_only_the_database():
    assert with_database("postgresql://ci:secret@db.example:6543/postgres?sslmode=disable",
                         "mbx_test_1") == \
           "postgresql://ci:secret@db.example:6543/mbx_test_1?sslmode=disable"
    assert with_database("postgresql://u@h:5432", "x") == "postgresql://u@h:5432/x"


def test_the_server_binaries_are_looked_for_only_where_told(tmp_path):
    assert pgserver.find_bindir(search_path="", patterns=()) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert pgserver.find_bindir(search_path=str(empty), patterns=(str(tmp_path / "*"),)) is None
    # a folder with all three programs is found through the pattern
    for version in ("9", "16"):
        folder = tmp_path / "lib" / version / "bin"
        folder.mkdir(parents=True)
        for tool in ("initdb", "pg_ctl", "postgres"):
            (folder / tool).write_text("#!/bin/sh\n")
            (folder / tool).chmod(stat.S_IRWXU)
    assert pgserver.find_bindir(search_path="", patterns=(str(tmp_path / "lib/*/bin"),)) == \
           tmp_path / "lib" / "16" / "bin"  # the newest version, numerically


def test_without_binaries_starting_fails_saying_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(pgserver, "BINDIR_PATTERNS", ())
    monkeypatch.setenv("PATH", str(tmp_path))
    server = pgserver.Server(tmp_path / "server")
    with pytest.raises(pgserver.ServerError) as refused:
        server.start()
    assert "apt-get install postgresql" in str(refused.value)
    assert ENVIRONMENT in str(refused.value)
    assert not (tmp_path / "server").exists()


def test_the_environment_variable_is_the_server_when_set(postgres_server):
    given = os.environ.get(ENVIRONMENT)
    if given:
        assert postgres_server == given.strip()
    else:  # our own throwaway server: on this machine, trusting local connections
        assert urlsplit(postgres_server).hostname == "127.0.0.1"
