"""Helpers that parse environment values; `newsdesk/settings.py` decides which variables to read.

Nothing here is a setting: settings.py imports these functions and stays the one settings module.
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    value = value.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 1/0, true/false, yes/no or on/off, not {value!r}")


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name, default=()):
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def _url_host(parts):
    """The host of a URL, percent-decoded: `%2Fvar%2Frun%2Fpostgresql` is a socket directory."""
    hostinfo = parts.netloc.rpartition("@")[2]
    if hostinfo.startswith("["):  # IPv6 literal
        return hostinfo[1:].partition("]")[0]
    return unquote(hostinfo.partition(":")[0])


def database_from_url(url, *, base_dir, pool=None):
    """Turn a DATABASE_URL (sqlite:///path or postgres://user:pass@host:port/name) into settings.

    A relative SQLite path is relative to `base_dir`. `pool` (the options of Django's PostgreSQL
    connection pool, or None for no pool) is used unless the URL says `?pool=0`. The pages' kept
    SQL (`articles.compiled`) runs as prepared statements unless the URL says `?prepare=0` (for a
    pooler in front of PostgreSQL that cannot keep them, such as PgBouncer before 1.21 in
    transaction mode); Django's other queries are never prepared.
    """
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme == "sqlite":
        # sqlite:////absolute/path.db or sqlite:///relative/path.db (relative to base_dir)
        rest = unquote(url.split("://", 1)[1].split("?", 1)[0])
        path = Path(rest[1:]) if rest.startswith("//") else Path(base_dir) / rest.lstrip("/")
        return sqlite_database(path)
    if scheme in {"postgres", "postgresql", "pgsql"}:
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        pooled = options.pop("pool", "1") not in {"0", "false", "off"}
        if options.pop("prepare", "1") not in {"0", "false", "off"}:
            # Only server-binding cursors prepare; Django's own bind on the client and never do.
            options["prepare_threshold"] = 5
        options.setdefault("connect_timeout", "5")
        if pooled and pool:
            options["pool"] = pool
        return {
            "ENGINE": "newsdesk.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "postgres",
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": _url_host(parts),
            "PORT": str(parts.port or ""),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {scheme!r} is not supported (sqlite or postgres)"
    )


def sqlite_database(path):
    return {
        "ENGINE": "django.db.backends.sqlite3",
        # A worker thread keeps its connection: opening one reads the schema and runs the pragmas
        # below, about 5 ms of every uncached page at 100,000 articles.
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
        "NAME": path,
        "OPTIONS": {
            # WAL lets readers run beside a writer; IMMEDIATE + timeout make writers queue
            # instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        },
    }


# Media storage ----------------------------------------------------------------------------------

_STORE_OPTIONS = {"endpoint", "region", "addressing"}


def media_store_from_url(url):
    """Read MEDIA_STORAGE_URL: None for the local disk (unset, empty or `file://`), else the
    S3-compatible store it names as a dict (bucket, location, endpoint_url, region_name,
    addressing_style and public_url, where the objects can be read without signing).

    `s3://bucket[/prefix]?endpoint=http://127.0.0.1:8333&region=us-east-1[&addressing=path]`;
    without an endpoint the store is Amazon S3 itself. Credentials never travel in the URL:
    boto3 reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment.
    """
    url = (url or "").strip()
    if not url or url in {"file:", "file://"}:
        return None
    parts = urlsplit(url)
    name = "MEDIA_STORAGE_URL"
    if parts.scheme == "file":
        raise ImproperlyConfigured(
            f"{name} {url!r}: write `file://` (or leave it unset) for the local media folder; "
            "DJANGO_MEDIA_ROOT chooses the folder."
        )
    if parts.scheme != "s3":
        raise ImproperlyConfigured(
            f"{name} must start with s3:// (an S3-compatible bucket) or be file:// (the local "
            f"disk), not {url!r}."
        )
    if parts.username or parts.password:
        raise ImproperlyConfigured(
            f"{name} must not hold credentials: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY in the environment instead."
        )
    bucket = parts.hostname or ""
    if not bucket:
        raise ImproperlyConfigured(f"{name} {url!r} names no bucket: s3://BUCKET?endpoint=…")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _STORE_OPTIONS)
    if unknown:
        raise ImproperlyConfigured(
            f"{name} has unknown option(s) {', '.join(unknown)}; known: endpoint, region, "
            "addressing."
        )
    options = {k: v[-1].strip() for k, v in query.items()}
    endpoint = options.get("endpoint", "").rstrip("/")
    if endpoint:
        endpoint_parts = urlsplit(endpoint)
        if endpoint_parts.scheme not in {"http", "https"} or not endpoint_parts.netloc:
            raise ImproperlyConfigured(
                f"{name}: endpoint must be an http:// or https:// address, not {endpoint!r}."
            )
    region = options.get("region", "") or "us-east-1"
    addressing = options.get("addressing", "") or ("path" if endpoint else "virtual")
    if addressing not in {"path", "virtual"}:
        raise ImproperlyConfigured(
            f"{name}: addressing must be path or virtual, not {addressing!r}."
        )
    location = unquote(parts.path).strip("/")
    if endpoint and addressing == "path":
        base = f"{endpoint}/{bucket}/"
    elif endpoint:
        endpoint_parts = urlsplit(endpoint)
        base = f"{endpoint_parts.scheme}://{bucket}.{endpoint_parts.netloc}/"
    else:
        base = f"https://{bucket}.s3.{region}.amazonaws.com/"
    return {
        "bucket": bucket,
        "location": location,
        "endpoint_url": endpoint or None,
        "region_name": region,
        "addressing_style": addressing,
        "public_url": base + (f"{location}/" if location else ""),
    }
