"""Django's Redis cache with one client object per connection pool.

Django's `RedisCacheClient.get_client()` builds a new `redis.Redis` for every cache call, and
redis-py fills in some 170 response callbacks each time it builds one: about a third of a cached
page's cost on this machine. The client is thread-safe and the pool already is per process and
thread (Django gives each thread its own cache object), so keeping it changes nothing else.
"""

import logging
import os
import threading

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)


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


class TrackedCopies:
    """This process's copies of the small values under one key prefix, trusted only while Redis
    is telling it of every change to them.

    A connection of its own asks Redis to track the prefix (`CLIENT TRACKING ON BCAST PREFIX`,
    redirected to itself, RESP2) and listens on `__redis__:invalidate`: any write, delete, expiry
    or eviction of such a key, or a flush, reaches a thread here, which drops the copy. Copies
    are kept only while that connection is up: when it fails, every copy is dropped and none is
    kept until it is back. A value read from Redis is kept only if no invalidation arrived since
    the read began (`mark()` before the read, `keep(..., mark)` after), so a change that
    crosses the read cannot leave an old copy behind. Bounded: past `limit` copies the oldest
    goes. What a process changes itself it also drops at once (`forget_all`), without waiting
    for Redis's message."""

    CHANNEL = "__redis__:invalidate"
    IDLE_SECONDS = 5  # silence longer than this: ping, and reconnect if the pong does not come

    def __init__(self, url: str, options: dict, prefix: str, limit: int = 10_000):
        self.prefix = prefix
        self.limit = limit
        self.pid = os.getpid()
        self.values: dict[str, object] = {}
        self.generation = 0
        self.live = False
        self._lock = threading.Lock()
        # RESP2: with RESP3 redis-py takes the invalidations as push messages for its own
        # client-side cache instead of handing them to the subscriber.
        self._pool = redis.ConnectionPool.from_url(url, **{**options, "protocol": 2})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cache-tracking")
        self._thread.start()

    def get(self, key):
        return self.values.get(key) if self.live else None

    def mark(self) -> int:
        return self.generation

    def keep(self, key, value, mark: int) -> None:
        with self._lock:
            if not self.live or self.generation != mark:
                return
            if key not in self.values and len(self.values) >= self.limit:
                del self.values[next(iter(self.values))]  # the oldest copy
            self.values[key] = value

    def forget_all(self) -> None:
        with self._lock:
            self.generation += 1
            self.values.clear()

    def _forget(self, keys) -> None:
        with self._lock:
            self.generation += 1
            if keys is None:  # a flush
                self.values.clear()
            else:
                for key in keys:
                    self.values.pop(key.decode() if isinstance(key, bytes) else key, None)

    def _down(self) -> None:
        with self._lock:
            self.live = False
            self.generation += 1
            self.values.clear()

    def close(self) -> None:
        self._stop.set()
        self._down()

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = redis.Redis(connection_pool=self._pool).pubsub()
                pubsub.execute_command("CLIENT", "ID")
                own = pubsub.parse_response(timeout=5)
                pubsub.execute_command(
                    "CLIENT", "TRACKING", "ON", "REDIRECT", own, "BCAST", "PREFIX", self.prefix
                )
                pubsub.parse_response(timeout=5)
                pubsub.subscribe(self.CHANNEL)
                if pubsub.get_message(timeout=5) is None:
                    raise redis.ConnectionError("no answer to SUBSCRIBE")
                with self._lock:
                    self.values.clear()
                    self.generation += 1
                    self.live = True
                delay = 0.1
                self._listen(pubsub)
            except Exception:  # noqa: BLE001 - Redis away: no copies until it is back
                if self.live:
                    logger.warning("cache tracking lost; copies dropped", exc_info=True)
            finally:
                self._down()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001, S110 - already broken
                        pass
            self._stop.wait(delay)
            delay = min(delay * 2, 5)

    def _listen(self, pubsub) -> None:
        pinged = False
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=self.IDLE_SECONDS)
            if message is None:
                if pinged:
                    raise redis.ConnectionError("no pong from Redis")
                pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message["type"] == "message" and message["channel"] in (
                self.CHANNEL,
                self.CHANNEL.encode(),
            ):
                self._forget(message["data"])


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

    def tracked_copies(
        self, prefix: str, *, start: bool = True, limit: int = 10_000
    ) -> TrackedCopies | None:
        """This process's tracked copies of the entries whose names start with `prefix`
        (one per process and prefix, shared by the threads' cache objects, at most `limit` of
        them); with `start` false, None instead of starting them (a command that only purges
        needs no listener)."""
        full = self.make_key(prefix)
        copies = _TRACKED.get(full)
        if copies is None or copies.pid != os.getpid():
            if not start:
                return None
            with _TRACKED_LOCK:
                copies = _TRACKED.get(full)
                if copies is None or copies.pid != os.getpid():
                    options = {
                        k: v
                        for k, v in self._options.items()
                        if k in ("socket_connect_timeout", "socket_timeout")
                    }
                    copies = _TRACKED[full] = TrackedCopies(self._servers[0], options, full, limit)
        return copies

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


_TRACKED: dict[str, TrackedCopies] = {}
_TRACKED_LOCK = threading.Lock()
