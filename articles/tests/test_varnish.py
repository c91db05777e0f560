"""A real Varnish (with the xkey vmod) in front of the test server, configured by
`deploy/varnish/site.vcl`: every kind of change is visible through it on the next request,
purged by key after commit, while an unrelated page stays cached."""

import datetime as dt
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.utils import timezone

from articles import services
from articles.models import Article
from articles.workflow import Action

from .factories import make_category, make_live_article

VCL = Path(__file__).resolve().parents[2] / "deploy" / "varnish" / "site.vcl"
XKEY = any(
    Path(folder, "libvmod_xkey.so").exists()
    for folder in ("/usr/lib/x86_64-linux-gnu/varnish/vmods", "/usr/lib/aarch64-linux-gnu/varnish/vmods", "/usr/lib/varnish/vmods")
)  # fmt: skip

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (shutil.which("varnishd") or Path("/usr/sbin/varnishd").exists()) or not XKEY,
        reason="varnishd with the xkey vmod is not installed (Debian: varnish varnish-modules; "
        "`make test` installs them)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def varnish(live_server, settings):
    # varnishd started as root reads its files as its own user: a world-readable folder.
    folder = Path(tempfile.mkdtemp(prefix="newsdesk-varnish-"))
    folder.chmod(0o755)
    backend_port = live_server.url.rsplit(":", 1)[1]
    vcl = folder / "site.vcl"
    vcl.write_text(VCL.read_text().replace('.port = "8000";', f'.port = "{backend_port}";'))
    port = _free_port()
    varnishd = shutil.which("varnishd") or "/usr/sbin/varnishd"
    process = subprocess.Popen(
        [varnishd, "-F", "-a", f"127.0.0.1:{port}", "-f", str(vcl), "-n", str(folder / "n"),
         "-s", "malloc,32m", "-p", "default_grace=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"varnishd did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    settings.CACHE_SECONDS = 300
    settings.EDGE_STALE_SECONDS = 1
    settings.EDGE_PURGE_URLS = [f"{base}/"]
    yield base
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


def _get(url):
    """(status, body, X-Edge) of a GET that does not follow redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode(), response.headers.get("X-Edge")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("X-Edge")


def _cached(url):
    """Fetch twice: the second answer must come from Varnish."""
    _get(url)
    status, body, edge = _get(url)
    assert edge == "hit", (url, status, edge)
    return status, body


def test_changes_show_through_varnish_at_once_and_unrelated_pages_stay_cached(varnish):
    section, other_section = make_category("Harbour"), make_category("Weather")
    story = make_live_article(headline="Harbour reopens", body="Boats are back.", category=section)
    other = make_live_article(
        headline="Rain tomorrow", body="Bring a coat.", category=other_section
    )
    story_url, other_url = varnish + story.get_absolute_url(), varnish + other.get_absolute_url()
    _cached(story_url)
    _cached(other_url)
    _cached(varnish + "/")

    # An edit.
    story.body = "Boats are back, and the ferry too."
    services.article_save(story, user=None)
    status, body, edge = _get(story_url)
    assert (status, edge) == (200, "miss") and "the ferry too" in body
    assert _get(other_url)[2] == "hit"  # unrelated article: untouched

    # A correction.
    _cached(story_url)
    correction = story.corrections.model(article=story, text="The ferry resumes on Tuesday.")
    services.correction_save(correction, user=None)
    assert "The ferry resumes on Tuesday." in _get(story_url)[1]

    # A rename: the old address now redirects, the new one serves the story.
    _cached(story_url)
    story.refresh_from_db()
    story.slug = "harbour-reopens-for-good"
    services.article_save(story, user=None)
    status, _, _ = _get(story_url)
    assert status == 301
    assert "the ferry too" in _get(varnish + "/articles/harbour-reopens-for-good/")[1]

    # A withdrawal: 410 through Varnish on the next request.
    new_url = varnish + "/articles/harbour-reopens-for-good/"
    _cached(new_url)
    story.refresh_from_db()
    services.article_withdraw(story, user=None, reason="Withdrawn for legal reasons.")
    status, body, _ = _get(new_url)
    assert status == 410 and "Withdrawn for legal reasons." in body
    assert _get(other_url)[2] == "hit"


def test_a_scheduled_story_appears_through_varnish_on_time(varnish):
    section = make_category("Ferries")
    make_live_article(headline="Timetable", category=section)
    scheduled = make_live_article(headline="New route opens", category=section)
    soon = timezone.now() + dt.timedelta(seconds=5)
    scheduled.published_at = soon
    services.article_save(scheduled, user=None, action=Action.SCHEDULE)
    assert Article.objects.get(pk=scheduled.pk).state == Article.State.SCHEDULED
    section_url = varnish + section.get_absolute_url()
    status, body = _cached(section_url)
    assert "New route opens" not in body
    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 1.1)
    assert "New route opens" in _get(section_url)[1]
