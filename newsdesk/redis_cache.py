"""Django's Redis cache with one client object per connection pool.

Django's `RedisCacheClient.get_client()` builds a new `redis.Redis` for every cache call, and
redis-py fills in some 170 response callbacks each time it builds one: about a third of a cached
page's cost on this machine. The client is thread-safe and the pool already is per process and
thread (Django gives each thread its own cache object), so keeping it changes nothing else.
"""

import os

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class Cache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClient
        # How often the lookup connection (re)connected: after an outage or a restart Redis may
        # hold pages an unreachable purge should have removed, so the page cache checks the
        # database for lost purges whenever this changes (`articles.cache.settle_purge_debt`).
        self.connects = 0

    def _connected(self, connection):
        self.connects += 1

    def validate_key(self, key):
        """Django checks every character of every key for memcached's sake (a warning only);
        Redis takes any key, and the page cache makes two lookups per request."""

    def get_many(self, keys, version=None):
        """One MGET on a connection this cache object keeps, without redis-py's per-command
        wrappers (retries, observability hooks) or the pool's checkout: the page cache's lookup
        is this call, on every public request. Django gives each thread its own cache object,
        so the connection is never shared; a connection error disconnects it (the next call
        reconnects, and counts in `connects`) and is raised as from any cache call (the page is then
        rendered)."""
        names = {self.make_key(key, version=version): key for key in keys}
        held = self.__dict__.get("_held")
        if held is None or held[0] != os.getpid():  # none yet, or inherited across a fork
            pool = self._cache._get_connection_pool(False)
            held = self.__dict__["_held"] = (os.getpid(), pool.make_connection())
            held[1].register_connect_callback(self._connected)
        connection = held[1]
        try:
            connection.send_command("MGET", *names)
            values = connection.read_response()
        except BaseException:
            connection.disconnect()
            raise
        loads = self._cache._serializer.loads
        return {names[n]: loads(v) for n, v in zip(names, values, strict=True) if v is not None}
