"""A seeded Newsdesk for tests that run the real gunicorn against it: its environment, on a
SQLite file of its own under `workdir`, with static files collected, migrated and seeded."""

import os
import subprocess
import sys
from pathlib import Path

from newsdesk.stack import free_port  # noqa: F401 - the tests that serve a site take it from here

ROOT = Path(__file__).resolve().parents[2]


def prepared_site(workdir: Path, **extra: str) -> dict:
    """The environment of a server on a new seeded database in `workdir` (whatever
    DATABASE_URL and REDIS_URL the tests run with), plus `extra`."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'site.sqlite3'}",
        "DJANGO_DEBUG": "0",
        "DJANGO_HTTPS": "0",
        "DJANGO_SECRET_KEY": "served-test-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_DATA_DIR": str(workdir / "data"),
        "DJANGO_STATIC_ROOT": str(workdir / "static"),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("DJANGO_SETTINGS_MODULE", "REDIS_URL", "PYTEST_XDIST_WORKER"):
        env.pop(name, None)
    env.update(extra)
    manage = [sys.executable, str(ROOT / "manage.py")]
    for args in (["collectstatic", "--noinput"], ["migrate", "--noinput"], ["loaddata", "seed"]):
        subprocess.run([*manage, *args, "-v0"], env=env, check=True, cwd=ROOT, timeout=180)
    return env
