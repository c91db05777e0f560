"""Readers first: under gunicorn each worker runs desk requests on a lane of their own, at a
lower CPU priority (`DeskLaneMiddleware`); readers' requests stay on the request threads."""

import os
import threading
import time

import pytest
from django.urls import reverse, set_script_prefix

from articles.middleware import DeskLaneMiddleware

from .factories import change_form_data, make_article, make_author, make_category, make_user

# The lane's thread has a database connection of its own: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ran_on(monkeypatch, settings):
    """The thread name and CPU priority each desk request ran with."""
    settings.DESK_LANE = 1
    seen = []
    original = DeskLaneMiddleware._run

    def recorded(self, request, *args):
        native = threading.get_native_id()
        seen.append((threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, native)))
        return original(self, request, *args)

    monkeypatch.setattr(DeskLaneMiddleware, "_run", recorded)
    return seen


def test_desk_requests_run_on_the_lane_at_a_lower_priority(client, ran_on, settings):
    author, category = make_author("Ann Lee"), make_category("World")
    article = make_article("Old headline", authors=[author], category=category)
    client.force_login(make_user("chief", superuser=True))
    url = reverse("admin:articles_article_change", args=[article.pk])
    assert client.get(url).status_code == 200
    data = change_form_data(article, headline="Saved on the lane")
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    article.refresh_from_db()
    assert article.headline == "Saved on the lane"
    assert len(ran_on) == 2
    base = os.getpriority(os.PRIO_PROCESS, 0)
    for name, priority in ran_on:
        assert name.startswith("desk-lane") and name != threading.current_thread().name
        assert priority == max(base, settings.DESK_NICE)
    # Readers' pages never go to the lane.
    assert client.get(article.get_absolute_url()).status_code == 200
    assert len(ran_on) == 2


def test_the_lane_keeps_the_sites_script_prefix(client, ran_on):
    """Under a path prefix (SCRIPT_NAME, which Django's WSGI handler sets for its thread as
    below), the desk's links keep it on the lane's thread."""
    client.force_login(make_user("chief", superuser=True))
    set_script_prefix("/newsroom/")
    try:
        html = client.get("/admin/").content.decode()
    finally:
        set_script_prefix("/")
    assert ran_on and 'href="/newsroom/admin/articles/article/' in html


def test_the_lane_is_off_unless_asked_for(client, settings, monkeypatch):
    settings.DESK_LANE = 0
    monkeypatch.setattr(DeskLaneMiddleware, "_lane", lambda self: pytest.fail("lane used"))
    client.force_login(make_user("chief", superuser=True))
    assert client.get("/admin/").status_code == 200


def test_a_crowd_of_desk_requests_never_holds_every_request_thread(settings, rf):
    """One request on the lane and one waiting for it; a third desk request at the same time
    runs on its own request thread at once instead of waiting too (waiting ones hold threads
    readers need)."""
    settings.DESK_LANE = 1
    release, ran = threading.Event(), []

    def view(request):
        ran.append(threading.current_thread().name)
        if len(ran) == 1:
            release.wait(10)  # the lane stays busy
        return request.path

    lane = DeskLaneMiddleware(view)
    threads = [
        threading.Thread(target=lane, args=(rf.get(f"/admin/{i}/"),), name=f"request-{i}")
        for i in range(3)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.2)  # in order: the first takes the lane, the second waits, the third...
    threads[2].join(5)
    assert not threads[2].is_alive()  # ...did not wait
    assert ran[0].startswith("desk-lane") and ran[1] == "request-2"
    release.set()
    for thread in threads[:2]:
        thread.join(5)
    assert ran[2].startswith("desk-lane") and lane.queued == 0
