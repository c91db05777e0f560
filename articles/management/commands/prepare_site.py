"""First-run setup used by `make run`: load the seed into a new database, ensure an admin user."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from articles.models import Article, SiteFlag

SEED_FLAG = "seed-loaded"


class Command(BaseCommand):
    help = "Load the seed fixture into a new database (never again) and make sure an admin exists."

    def add_arguments(self, parser):
        parser.add_argument(
            "--username", default=os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        )

    def handle(self, *args, username, **options):
        self.load_seed_once()
        self.ensure_admin(username)

    @transaction.atomic
    def load_seed_once(self):
        if SiteFlag.objects.filter(name=SEED_FLAG).exists():
            self.stdout.write("Seed: already loaded once; editors' changes are kept.")
            return
        if Article.objects.exists():
            self.stdout.write("Seed: the database already has articles; not loading the seed.")
        else:
            call_command("loaddata", "seed", verbosity=0)
            self.stdout.write(self.style.SUCCESS("Seed: loaded fixtures/seed.json."))
        SiteFlag.objects.create(name=SEED_FLAG)

    def ensure_admin(self, username):
        User = get_user_model()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        user = User.objects.filter(username=username).first()
        if user is None and User.objects.filter(is_superuser=True).exists() and not password:
            names = ", ".join(
                User.objects.filter(is_superuser=True).values_list("username", flat=True)
            )
            self.stdout.write(f"Admin: superuser(s) already exist ({names}).")
            return
        if user is None:
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(self.style.SUCCESS("Admin user created (log in at /admin/):"))
            self.stdout.write(f"  username: {username}")
            self.stdout.write(f"  password: {password}")
            return
        if password:
            user.set_password(password)
            user.is_staff = user.is_superuser = user.is_active = True
            user.save()
            self.stdout.write(
                f"Admin: password for '{username}' set from DJANGO_SUPERUSER_PASSWORD."
            )
        else:
            self.stdout.write(f"Admin: user '{username}' exists (password unchanged).")
