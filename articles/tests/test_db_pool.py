"""The PostgreSQL pool checks a connection on checkout without a round trip
(`newsdesk.postgresql`), and still replaces one the server has dropped."""

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from newsdesk import env
from newsdesk.postgresql.base import DatabaseWrapper, check_idle_connection

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the pool is PostgreSQL's; .ci/run's second pass runs these on it",
    ),
    pytest.mark.django_db,
]


@pytest.fixture
def pooled():
    url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(
        **{k: connection.settings_dict[k] or "" for k in ("USER", "HOST", "PORT", "NAME")}
    )
    settings_dict = env.database_from_url(
        url, base_dir=".", pool={"min_size": 1, "max_size": 1, "timeout": 2}
    )
    assert settings_dict["ENGINE"] == "newsdesk.postgresql"
    settings_dict.update(
        ATOMIC_REQUESTS=False, AUTOCOMMIT=True, CONN_MAX_AGE=0, TIME_ZONE=None, TEST={}
    )
    wrapper = DatabaseWrapper(settings_dict, alias="pool-check")
    yield wrapper
    wrapper.close()
    wrapper.close_pool()


def _backend_pid(wrapper):
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_sound_idle_connection_is_handed_out_without_asking_the_server(pooled, monkeypatch):
    first = _backend_pid(pooled)
    pooled.close()  # back to the pool
    assert pooled.pool._check is check_idle_connection
    asked = []
    full = ConnectionPool.check_connection
    monkeypatch.setattr(ConnectionPool, "check_connection", lambda c: asked.append(c) or full(c))
    assert _backend_pid(pooled) == first  # the same connection, from the pool
    assert asked == []  # no empty query before it


def test_a_connection_the_server_dropped_is_replaced_on_checkout(pooled, monkeypatch):
    dropped = _backend_pid(pooled)
    pooled.close()
    asked = []
    full = ConnectionPool.check_connection
    monkeypatch.setattr(ConnectionPool, "check_connection", lambda c: asked.append(c) or full(c))
    params = pooled.get_connection_params()
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [dropped])  # and waits
    # The next checkout finds the server's goodbye on the socket, runs the full check, which
    # fails, and the pool gives a new connection: the page works, nothing reaches the reader.
    assert _backend_pid(pooled) != dropped
    assert len(asked) == 1, "the full check ran for the dropped connection"
