"""Redis for the tests: a real server, emptied for each test that takes it.

``redis_server`` (session) is the URL of a server, ``redis://host:port/DB``:

- ``MBX_TEST_REDIS`` set: that URL (CI starts one server for the whole run);
- otherwise a throwaway server of our own (``redisserver.start``) in a temporary
  folder, started on first use and stopped at the end of the session. No
  ``redis-server`` is a failure that says how to install it, never a skip.

``redis_url`` (function) is the same URL with its database emptied first, so that
no message of an earlier test reaches this one's workers. ``tests/conftest.py``
imports both fixtures.
"""

from __future__ import annotations

import os
import tempfile

import pytest

import redisserver

#: The variable naming an existing server to use instead of starting one.
ENVIRONMENT = "MBX_TEST_REDIS"


def _client(url: str):
    try:
        import redis
    except ImportError:
        pytest.fail('redis-py is missing: pip install ".[test]" (it brings redis)',
                    pytrace=False)
    return redis.Redis.from_url(url, socket_timeout=10)


@pytest.fixture(scope="session")
def redis_server():
    """The URL of a Redis server the tests may empty."""
    given = os.environ.get(ENVIRONMENT, "").strip()
    if given:
        if not given.startswith(("redis://", "unix://")):
            pytest.fail(f"{ENVIRONMENT} must be a URL, redis://host:port/0, not {given!r}",
                        pytrace=False)
        try:
            _client(given).ping()
        except Exception as error:  # noqa: BLE001 - any failure to reach it is the message
            pytest.fail(f"{ENVIRONMENT}={given}: cannot connect: {error}", pytrace=False)
        yield given
        return
    folder = tempfile.mkdtemp(prefix="mbx-redis-")
    try:
        try:
            url = redisserver.start(folder)
        except (redisserver.ServerError, OSError) as error:
            problem = str(error)
        else:
            problem = None
        if problem:
            pytest.fail(f"cannot start a Redis server for the tests: {problem}"
                        + ("" if redisserver.INSTALL_HINT in problem
                           else f" ({redisserver.INSTALL_HINT})"), pytrace=False)
        yield url
    finally:
        redisserver.stop(folder)


@pytest.fixture
def redis_url(redis_server):
    """The server's URL, its database emptied."""
    client = _client(redis_server)
    client.flushdb()
    client.close()
    yield redis_server
