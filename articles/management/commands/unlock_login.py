"""Lift a sign-in lockout before its cool-off ends: `manage.py unlock_login USERNAME [--ip IP]`."""

import ipaddress

from django.core.management.base import BaseCommand, CommandError

from articles.logins import login_unlock


class Command(BaseCommand):
    help = "Forget the failed sign-ins of USERNAME (from --ip only, if given), lifting its lockout."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--ip", help="only the failures from this address")

    def handle(self, *args, username, ip, **options):
        if ip:
            try:
                ip = str(ipaddress.ip_address(ip.strip()))
            except ValueError:
                raise CommandError(f"{ip!r} is not an IP address.") from None
        count = login_unlock(username=username, ip_address=ip)
        if not count:
            where = f" from {ip}" if ip else ""
            raise CommandError(
                f"No failed sign-ins recorded for {username!r}{where}: nothing to unlock."
            )
        self.stdout.write(
            f"Unlocked {username!r}{f' from {ip}' if ip else ''} ({count} record(s) removed)."
        )
