"""`python manage.py cluster` (`make cluster`): SeaweedFS, PostgreSQL, Redis, two gunicorn app
servers and Varnish on loopback ports, until Ctrl-C."""

import signal
import tempfile
import threading
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from newsdesk.cluster import Cluster
from newsdesk.stack import StackError


class Command(BaseCommand):
    help = (
        "Run Newsdesk as a cluster on this machine (two app servers behind Varnish) until Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workdir", help="where data and logs go (default: a new temp folder)")
        parser.add_argument("--admin-password", help="the admin's password (default: random)")

    def handle(self, *args, workdir=None, admin_password=None, **options):
        folder = Path(workdir or tempfile.mkdtemp(prefix="newsdesk-cluster-"))
        cluster = Cluster(folder, admin_password=admin_password, log=self.stdout.write)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            cluster.start()
        except StackError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        try:
            self.stdout.write(self.style.SUCCESS("Newsdesk cluster is up."))
            self.stdout.write(cluster.describe())
            self.stdout.write("Ctrl-C stops everything.")
            stop.wait()
        finally:
            self.stdout.write("Stopping…")
            cluster.stop()
            self.stdout.write("Stopped.")
