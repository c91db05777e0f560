"""Send the webhook deliveries and WebSub pings that are due:
`manage.py deliver_webhooks [--once | --loop [--interval SECONDS]]`.

Run it from cron (`--once`, the default: one pass, then exit) or as a service (`--loop`). Several
may run at once: each message is claimed by one of them."""

import time

from django.core.management.base import BaseCommand, CommandError

from articles.webhooks import deliver_due


class Command(BaseCommand):
    help = "Send the webhook deliveries and WebSub hub pings that are due."

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="one pass, then exit (default)")
        mode.add_argument("--loop", action="store_true", help="keep sending until stopped")
        parser.add_argument(
            "--interval", default="10", help="seconds to wait when nothing is due (--loop)"
        )

    def handle(self, *args, once, loop, interval, **options):
        try:
            interval = float(interval)
        except ValueError:
            interval = -1
        if not 0 < interval <= 3600:
            raise CommandError("--interval must be a number of seconds between 0 and 3600.")
        if not loop:
            self._report(deliver_due())
            return
        try:
            while True:
                outcomes = deliver_due()
                if outcomes:
                    self._report(outcomes)
                else:
                    time.sleep(interval)
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")

    def _report(self, outcomes):
        self.stdout.write(
            ", ".join(
                f"{outcomes[name]} {name}"
                for name in ("delivered", "failed", "given up", "cancelled")
            )  # fmt: skip
            + "."
        )
