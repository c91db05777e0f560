"""Settings read from the environment; production checks; SQLite tuned for concurrent writers."""

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from newsdesk import env

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=full_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://u:p%40ss@db.example:6543/news",
            {"NAME": "news", "USER": "u", "PASSWORD": "p@ss", "HOST": "db.example", "PORT": "6543"},
        ),
        (
            "postgresql://postgres@127.0.0.1/postgres",
            {"NAME": "postgres", "USER": "postgres", "HOST": "127.0.0.1", "PORT": ""},
        ),
        (
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/db",
            {"NAME": "db", "USER": "u", "PASSWORD": "", "HOST": "/var/run/postgresql", "PORT": ""},
        ),
        (
            "postgres://u:p%2Fw%3Ad%25@%2Fvar%2Frun%2Fpostgresql:5433/db",
            {"PASSWORD": "p/w:d%", "HOST": "/var/run/postgresql", "PORT": "5433"},
        ),
        ("postgres://u@[::1]:5432/db", {"HOST": "::1", "PORT": "5432"}),
    ],
)
def test_postgres_urls(url, expected):
    db = env.database_from_url(url, base_dir=ROOT)
    assert db["ENGINE"] == "newsdesk.postgresql"  # Django's, with a cheaper pool check
    for key, value in expected.items():
        assert db[key] == value


def test_postgres_pool_is_given_by_settings_and_turned_off_by_the_url():
    pool = {"min_size": 1, "max_size": 3, "timeout": 2}
    pooled = env.database_from_url("postgres://u@h/db", base_dir=ROOT, pool=pool)
    assert pooled["OPTIONS"] == {"pool": pool, "connect_timeout": "5", "prepare_threshold": 5}
    unpooled = env.database_from_url("postgres://u@h/db?pool=0", base_dir=ROOT, pool=pool)
    assert unpooled["OPTIONS"] == {"connect_timeout": "5", "prepare_threshold": 5}


@pytest.mark.parametrize("flag", ["0", "off", "false"])
def test_prepared_statements_are_turned_off_by_the_url(flag):
    """For a pooler that cannot keep prepared statements (PgBouncer in transaction mode)."""
    db = env.database_from_url(f"postgres://u@h/db?prepare={flag}&pool=0", base_dir=ROOT)
    assert db["OPTIONS"] == {"connect_timeout": "5"}


def test_sqlite_url_and_options(tmp_path):
    db = env.database_from_url(f"sqlite:///{tmp_path}/x.sqlite3", base_dir=ROOT)
    assert db["NAME"] == tmp_path / "x.sqlite3"
    relative = env.database_from_url("sqlite:///var/bench.sqlite3", base_dir=tmp_path)
    assert relative["NAME"] == tmp_path / "var" / "bench.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_unknown_database_scheme_is_refused():
    with pytest.raises(ImproperlyConfigured):
        env.database_from_url("mysql://x@y/z", base_dir=ROOT)


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_bad_boolean_is_refused(monkeypatch, value):
    monkeypatch.setenv("NEWSDESK_X", value)
    with pytest.raises(ImproperlyConfigured):
        env.env_bool("NEWSDESK_X")


def test_production_refuses_to_serve_or_deploy_without_a_secret_key():
    """Serving (WSGI/ASGI) and `check --deploy` refuse; offline commands still work."""
    result = run_manage("check", "--deploy")
    assert result.returncode == 1
    assert "newsdesk.E001" in result.stderr and "DJANGO_SECRET_KEY must be set" in result.stderr
    for module in ("newsdesk.wsgi", "newsdesk.asgi"):
        served = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            env={k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert served.returncode == 1, module
        assert "DJANGO_SECRET_KEY must be set" in served.stderr, module
    offline = run_manage("makemigrations", "--check", "--dry-run")
    assert offline.returncode == 0, offline.stderr


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY="a-long-random-production-secret-" + "q7" * 20,
        DJANGO_ALLOWED_HOSTS="news.example.org",
        DJANGO_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_sqlite_file_database_uses_wal_and_writers_wait(tmp_path):
    """Two threads writing at once both succeed: WAL + IMMEDIATE + busy timeout, no 'locked'."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    settings_dict = {
        **env.sqlite_database(tmp_path / "c.sqlite3"),
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }
    setup = DatabaseWrapper(settings_dict, alias="wal-check")
    with setup.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("CREATE TABLE t (n INTEGER)")
    setup.close()
    errors = []

    def writer():
        conn = DatabaseWrapper(settings_dict, alias="wal-check")
        try:
            for i in range(50):
                with conn.cursor() as cursor:
                    conn.set_autocommit(False)
                    cursor.execute("INSERT INTO t VALUES (%s)", [i])
                    conn.commit()
                    conn.set_autocommit(True)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (
        sqlite3.connect(tmp_path / "c.sqlite3").execute("SELECT COUNT(*) FROM t").fetchone()[0]
        == 200
    )
