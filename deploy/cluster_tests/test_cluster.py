"""`make cluster-test`: the cluster `make cluster` starts, proved over HTTP. Kept out of
`make test` (testpaths) because it starts eight servers and takes about a minute."""

import http.cookiejar
import io
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from PIL import Image

from newsdesk.cluster import Cluster
from newsdesk.stack import StackError

pytestmark = [pytest.mark.own_stack, pytest.mark.cluster]
PASSWORD = "pw-Cluster-Test-1"


@pytest.fixture(scope="module")
def cluster():
    try:
        running = Cluster(Path_tmp(), admin_password=PASSWORD, log=lambda *_: None).start()
    except StackError as exc:
        if "is not installed" in str(exc):
            pytest.skip(f"cluster component missing: {exc}")
        raise
    yield running
    running.stop()


def Path_tmp():
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="newsdesk-cluster-test-"))


class Browser:
    """Cookies kept across servers, as one person's browser on one site would."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def get(self, url):
        try:
            with self.opener.open(url, timeout=20) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def post(self, url, fields, files=None, referer=None):
        boundary = uuid.uuid4().hex
        body = io.BytesIO()
        for name, value in fields.items():
            body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                       f"{value}\r\n".encode())  # fmt: skip
        for name, (filename, data, mime) in (files or {}).items():
            body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                       f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'.encode())  # fmt: skip
            body.write(data + b"\r\n")
        body.write(f"--{boundary}--\r\n".encode())
        request = urllib.request.Request(url, data=body.getvalue(), method="POST")
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        request.add_header("Referer", referer or url)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def csrf(self, url):
        status, html = self.get(url)
        assert status == 200, (url, status)
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def jpeg(color):
    buffer = io.BytesIO()
    Image.new("RGB", (900, 600), color).save(buffer, "JPEG")
    return buffer.getvalue()


def author_form(token, name, slug, bio):
    return {"csrfmiddlewaretoken": token, "name": name, "slug": slug, "bio": bio,
            "photo_alt": name}  # fmt: skip


@pytest.fixture(scope="module")
def editor(cluster):
    """Signed in to the desk on app server A."""
    browser = Browser()
    a = cluster.apps[0].url
    token = browser.csrf(a + "/admin/login/")
    status, _ = browser.post(
        a + "/admin/login/?next=/admin/",
        {"csrfmiddlewaretoken": token, "username": "admin", "password": PASSWORD,
         "next": "/admin/"},
    )  # fmt: skip
    assert status == 302
    return browser


def test_upload_and_edit_on_a_are_served_by_b_and_varnish_and_the_session_travels(cluster, editor):
    """A photo uploaded on A is on B's page and through Varnish; an edit on A shows on B and
    through Varnish on the next request; the session made on A works on B."""
    a, b = (app.url for app in cluster.apps)
    edge = cluster.varnish.url
    add = a + "/admin/articles/author/add/"
    token = editor.csrf(add)
    fields = author_form(token, "Cluster Photographer", "cluster-photographer", "First bio.")
    status, html = editor.post(
        add, fields, {"photo": ("pic.jpg", jpeg((10, 120, 200)), "image/jpeg")}
    )
    assert status == 302, html[:2000]
    page = "/authors/cluster-photographer/"
    status, html_b = Browser().get(b + page)
    assert status == 200 and "First bio." in html_b
    image = re.search(rf'src="({re.escape(edge)}/media/[^"]+)"', html_b).group(1)
    status, data = Browser().get(image)
    assert status == 200 and data
    with urllib.request.urlopen(image, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("image/")
    status, html_edge = Browser().get(edge + page)
    assert status == 200 and image in html_edge
    # An edit on A: B and Varnish (which cached the page just now) show it next time.
    change = re.search(r'href="(/admin/articles/author/\d+/change/)"',
                       editor.get(a + "/admin/articles/author/?q=Cluster")[1]).group(1)  # fmt: skip
    token = editor.csrf(a + change)
    fields = author_form(token, "Cluster Photographer", "cluster-photographer", "Second bio.")
    status, html = editor.post(a + change, fields)
    assert status == 302, html[:2000]
    assert "Second bio." in Browser().get(b + page)[1]
    assert "Second bio." in Browser().get(edge + page)[1]
    # The session cookie made on A signs the editor in on B.
    status, html = editor.get(b + "/admin/")
    assert status == 200 and "Log out" in html


def test_site_stays_up_through_varnish_when_app_server_a_stops(cluster):
    """Stop A: Varnish's health probe takes it out and B answers every request."""
    cluster.apps[0].stop()
    time.sleep(3.5)  # the probe: 2 of 3 checks a second apart fail
    for _ in range(6):
        status, _ = Browser().get(cluster.varnish.url + "/?n=" + uuid.uuid4().hex[:6])
        assert status == 200


def test_store_down_gives_a_clear_form_error_and_pages_keep_serving(cluster, editor):
    """Stop SeaweedFS: an upload on B fails with the store named in the form, nothing is
    saved, and readers still get pages."""
    b = cluster.apps[1].url
    editor_b = editor
    cluster.seaweedfs.stop()
    add = b + "/admin/articles/author/add/"
    token = editor_b.csrf(add)
    fields = author_form(token, "Outage Author", "outage-author", "Typed during the outage.")
    status, html = editor_b.post(
        add, fields, {"photo": ("p.jpg", jpeg((200, 20, 20)), "image/jpeg")}
    )
    assert status == 200
    assert "The image could not be stored: the media store cannot be written" in html
    assert "Typed during the outage." in html
    assert Browser().get(b + "/authors/outage-author/")[0] == 404
    for path in ("/", "/authors/cluster-photographer/"):
        assert Browser().get(cluster.varnish.url + path)[0] == 200
