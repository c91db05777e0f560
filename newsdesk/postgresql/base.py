"""Django's PostgreSQL backend, with a pool that checks a connection without a round trip.

Django's pool (`OPTIONS["pool"]`, with `CONN_HEALTH_CHECKS`) runs psycopg's
`ConnectionPool.check_connection` on every checkout: an empty query, one more round trip to the
database on every request, about a twentieth of an uncached article page. `check_idle_connection`
asks the connection's socket instead: an idle connection has nothing to read unless the server
wrote to it, and a server that goes away (a restart, a terminated backend, a dropped link that
resets) leaves its goodbye or end of file there. Only then, or when the connection is not idle
and sound by its own state, the full check runs, and a broken connection is thrown away as
before (`test_reliability`: an outage gives 503s and every worker recovers).
"""

import select

from django.db.backends.postgresql import base

try:
    from psycopg import pq
    from psycopg_pool import ConnectionPool
except ImportError:  # no pool installed: Django's backend refuses `pool` by itself
    ConnectionPool = None


def _waiting_input(fd: int) -> bool:
    poller = select.poll()  # not select(): a worker may hold descriptors past 1024
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def check_idle_connection(conn) -> None:
    """Return if `conn` is sound without asking the server; else psycopg's full check (which
    raises for a broken connection, and the pool then replaces it)."""
    pgconn = conn.pgconn
    if (
        pgconn.status == pq.ConnStatus.OK
        and pgconn.transaction_status == pq.TransactionStatus.IDLE
        and not _waiting_input(pgconn.socket)
    ):
        return
    ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        # Django passes psycopg's own check when CONN_HEALTH_CHECKS is on; this backend's is
        # the same check after a look at the socket (module docstring). `_check` is where
        # psycopg_pool keeps the callback: `test_db_pool` fails if that ever changes.
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = check_idle_connection
        return pool
