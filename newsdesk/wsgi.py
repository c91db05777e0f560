import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsdesk.settings")

from newsdesk.settings import require_secret_key  # noqa: E402

require_secret_key()

from articles.cache import FrontDoor  # noqa: E402

# Cached public pages are answered before Django's request handling starts.
application = FrontDoor(get_wsgi_application())
