"""Webhooks and WebSub: desk changes reach a real HTTP receiver on loopback, signed, in order,
retried with backoff; a hub stub gets its form pings; feeds name the hub and themselves."""

import datetime as dt
import hashlib
import hmac
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import feedparser
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from articles import services, webhooks
from articles.models import Article, OutboxMessage, Webhook
from articles.workflow import Action

from .factories import change_form_data, make_editor, make_live_article, make_user
from .test_workflow import change_url, form_data, ready_draft

pytestmark = pytest.mark.django_db
SECRET = "a-shared-secret"
ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """An HTTP server on a free loopback port, in a thread, that keeps every request it gets and
    answers 500 to the first `fail_first` of them. With `hold_first`, it answers the first
    request only once a second one came in (or after 4 s): `overlapped` says whether one did."""

    def __init__(self):
        self.requests, self.fail_first, self.delay = [], 0, 0
        self.hold_first, self.overlapped, self.second = False, False, threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay)
                receiver.requests.append({"path": self.path, "headers": self.headers, "body": body})
                if len(receiver.requests) == 1 and receiver.hold_first:
                    receiver.overlapped = receiver.second.wait(4)
                else:
                    receiver.second.set()
                self.send_response(500 if len(receiver.requests) <= receiver.fail_first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    @property
    def events(self):
        return [json.loads(r["body"])["event"] for r in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def chief(client):
    user = make_user("chief", superuser=True)
    client.force_login(user)
    return user


def check_signature(secret, body, header, tolerance=300):
    """The receiver's side, as the README documents it (written out here, not imported)."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and time.time() - timestamp < tolerance


def deliver():
    out = io.StringIO()
    call_command("deliver_webhooks", "--once", stdout=out)
    return out.getvalue()


def hook_for(receiver, **kwargs):
    return Webhook.objects.create(url=receiver.url, secret=SECRET, **kwargs)


def make_due(**filters):
    """The clock moves on: what is waiting for a later time falls due now."""
    past = timezone.now() - dt.timedelta(seconds=1)
    OutboxMessage.objects.pending().filter(**filters).update(deliver_after=past)


def test_desk_changes_reach_the_receiver_signed_and_in_order(client, chief, receiver):
    """Publish, correct, withdraw and trash in the desk; one pass of the command sends each
    event once, in that order, with a signature the documented check accepts."""
    add = client.post(
        reverse("admin:articles_webhook_add"),
        {
            "url": receiver.url,
            "events": [e for e, _ in webhooks.Webhook.Event.choices if e != "test"],  # fmt: skip
            "secret": SECRET,
            "active": "on",
        },
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    assert Webhook.objects.get().created_by == chief

    story = ready_draft(chief)
    assert (
        client.post(change_url(story), form_data(story, action=Action.PUBLISH)).status_code == 302
    )
    story.refresh_from_db()
    correction = {
        "corrections-TOTAL_FORMS": "1",
        "corrections-0-kind": "correction",
        "corrections-0-text": "The minister spoke on Tuesday.",
        "corrections-0-created_at_0": timezone.localdate().isoformat(),
        "corrections-0-created_at_1": "00:00:01",
    }
    response = client.post(change_url(story), change_form_data(story, **correction))
    assert response.status_code == 302
    withdraw = reverse("admin:articles_article_withdraw", args=[story.pk])
    assert client.post(withdraw, {"reason": "A court order."}).status_code == 302
    other = make_live_article(headline="To the trash")
    delete = reverse("admin:articles_article_delete", args=[other.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert receiver.requests == []  # the desk never waits for a receiver

    assert "4 delivered" in deliver()
    assert receiver.events == ["published", "corrected", "withdrawn", "deleted"]
    for request in receiver.requests:
        assert check_signature(SECRET, request["body"], request["headers"]["Newsdesk-Signature"])
        assert request["headers"]["Content-Type"] == "application/json"
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["article"]["headlines"][0]["value"] for b in bodies] == [story.headline] * 3 + [
        "To the trash"
    ]
    assert bodies[0]["article"]["uri"].endswith(f":article:{story.pk}")  # ninjs.urn
    assert bodies[0]["article"]["pubStatus"] == "usable"
    assert bodies[2]["article"]["pubStatus"] == "canceled"
    assert not check_signature("another-secret", receiver.requests[0]["body"],
                               receiver.requests[0]["headers"]["Newsdesk-Signature"])  # fmt: skip
    assert deliver().startswith("0 delivered")  # each is sent once
    assert len(receiver.requests) == 4


def test_a_tampered_or_old_delivery_fails_the_check(receiver):
    """The signature covers the timestamp and the body: changing either, or replaying it after
    five minutes, is refused."""
    body = b'{"event":"published"}'
    header = webhooks.signature(SECRET, body, int(time.time()))
    assert check_signature(SECRET, body, header) and webhooks.verify(SECRET, body, header)
    assert not webhooks.verify(SECRET, body + b" ", header)
    t, _, mac = header.partition(",")
    assert not webhooks.verify(SECRET, body, f"t={int(t[2:]) + 1},{mac}")
    old = webhooks.signature(SECRET, body, int(time.time()) - 301)
    assert not webhooks.verify(SECRET, body, old)
    assert not webhooks.verify(SECRET, body, "garbage")


def test_a_failing_receiver_is_retried_with_backoff_and_keeps_order(client, chief, receiver):
    """Two failures: the first message waits 1 then 2 minutes, the second waits behind it, and
    every attempt is on the webhook's desk page."""
    hook = hook_for(receiver)
    receiver.fail_first = 2
    first, second = make_live_article(headline="First"), make_live_article(headline="Second")
    started = timezone.now()
    for article in (first, second):
        services.article_trash(article, user=chief)
    assert "1 failed" in deliver()
    message = OutboxMessage.objects.get(article_id=first.pk)
    assert message.attempts == 1 and message.last_status == 500
    wait = message.deliver_after - started
    assert dt.timedelta(seconds=55) < wait < dt.timedelta(seconds=70)
    assert len(receiver.requests) == 1  # the second waits for the first

    assert deliver().startswith("0 delivered, 0 failed")  # not due yet
    make_due()
    deliver()
    message.refresh_from_db()
    assert message.attempts == 2
    assert (
        dt.timedelta(seconds=115)
        < message.deliver_after - timezone.now()
        < dt.timedelta(seconds=125)
    )
    make_due()
    assert "2 delivered" in deliver()
    heads = [json.loads(r["body"])["article"]["headlines"][0]["value"] for r in receiver.requests]
    assert heads == ["First", "First", "First", "Second"]
    ids = {json.loads(r["body"])["id"] for r in receiver.requests[:3]}
    assert ids == {message.pk}  # receivers can tell a retry from a new event
    message.refresh_from_db()
    assert [entry["status"] for entry in message.log] == [500, 500, 200]

    html = client.get(reverse("admin:articles_webhook_change", args=[hook.pk])).content.decode()
    assert html.count("HTTP 500") == 2 and html.count("HTTP 200") == 2
    assert "delivered" in html


def test_a_receiver_that_never_answers_is_given_up_and_the_next_is_sent(
    client, chief, receiver, monkeypatch
):
    """After the last attempt the message is given up (and shown so); the endpoint's next
    message is sent."""
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 2)
    hook = hook_for(receiver)
    receiver.fail_first = 2
    doomed, next_one = make_live_article(), make_live_article()
    services.article_trash(doomed, user=chief)
    services.article_trash(next_one, user=chief)
    deliver()
    make_due()
    assert "1 delivered, 0 failed, 1 given up" in deliver()
    assert OutboxMessage.objects.get(article_id=doomed.pk).gave_up_at is not None
    assert OutboxMessage.objects.get(article_id=next_one.pk).delivered_at is not None
    html = client.get(reverse("admin:articles_webhook_change", args=[hook.pk])).content.decode()
    assert "given up" in html


def test_an_unreachable_endpoint_is_an_attempt_not_an_error(chief, receiver):
    """A closed port is recorded as a failed attempt with its reason; the command succeeds."""
    hook_for(receiver)
    receiver.stop()
    services.article_trash(make_live_article(), user=chief)
    assert "1 failed" in deliver()
    message = OutboxMessage.objects.get()
    assert message.last_status is None and message.last_error
    assert message.log[0]["error"]


def test_send_test_action_delivers_at_once(client, chief, receiver):
    """The desk's "Send a test event" action posts a signed `test` event and says it arrived."""
    hook = hook_for(receiver)
    response = client.post(
        reverse("admin:articles_webhook_changelist"),
        {"action": "send_test", "_selected_action": [hook.pk], "index": "0"},
        follow=True,
    )
    assert "test delivered (HTTP 200)" in response.content.decode()
    assert receiver.events == ["test"]
    request = receiver.requests[0]
    assert check_signature(SECRET, request["body"], request["headers"]["Newsdesk-Signature"])
    assert json.loads(request["body"])["article"] is None


def test_events_a_webhook_did_not_choose_are_not_sent(chief, receiver):
    hook_for(receiver, events=["withdrawn"])
    story = make_live_article()
    services.article_trash(story, user=chief)
    assert not OutboxMessage.objects.exists()


def test_a_save_that_changes_nothing_sends_nothing_and_an_edit_sends_updated(
    client, chief, receiver
):
    hook_for(receiver)
    story = make_live_article()
    assert client.post(change_url(story), change_form_data(story)).status_code == 302
    assert not OutboxMessage.objects.exists()
    story.refresh_from_db()
    edited = change_form_data(story, body="A new paragraph.")
    assert client.post(change_url(story), edited).status_code == 302
    deliver()
    assert receiver.events == ["updated"]


def test_nothing_is_queued_when_the_change_rolls_back(chief, receiver):
    """Messages are written in the change's transaction: no commit, no message."""
    hook_for(receiver)
    story = make_live_article()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.article_trash(story, user=chief)
        raise RuntimeError
    assert not OutboxMessage.objects.exists()


def test_a_scheduled_story_is_announced_when_it_goes_live(client, chief, receiver):
    """Scheduling queues `published` for the publication time; rescheduling replaces it; the
    story going live by itself sends it then, with the story as it is then."""
    hook_for(receiver)
    story = ready_draft(chief)
    when = timezone.localtime() + dt.timedelta(hours=3)
    data = form_data(story, action=Action.SCHEDULE, published_at_0=f"{when:%Y-%m-%d}",
                     published_at_1=f"{when:%H:%M:%S}")  # fmt: skip
    assert client.post(change_url(story), data).status_code == 302
    story.refresh_from_db()
    later = when + dt.timedelta(hours=1)
    data = form_data(story, action=Action.SCHEDULE, published_at_0=f"{later:%Y-%m-%d}",
                     published_at_1=f"{later:%H:%M:%S}")  # fmt: skip
    assert client.post(change_url(story), data).status_code == 302
    queued = OutboxMessage.objects.get()
    assert queued.event == "published" and queued.occurred_at == later.replace(microsecond=0)
    assert deliver().startswith("0 delivered") and receiver.requests == []

    # Time passes: the story is live without a save.
    past = timezone.now() - dt.timedelta(seconds=1)
    Article.objects.filter(pk=story.pk).update(published_at=past)
    OutboxMessage.objects.update(occurred_at=past, deliver_after=past)
    assert "1 delivered" in deliver()
    assert receiver.events == ["published"]
    assert json.loads(receiver.requests[0]["body"])["article"]["pubStatus"] == "usable"


def test_a_scheduled_story_taken_back_is_never_announced(client, chief, receiver):
    hook_for(receiver)
    story = ready_draft(chief)
    services.article_save(
        story, user=chief, action=Action.SCHEDULE,
        published_at=timezone.now() + dt.timedelta(hours=1),
    )  # fmt: skip
    story.published_at = timezone.now() + dt.timedelta(hours=1)
    services.article_save(story, user=chief, action=Action.SCHEDULE)
    assert OutboxMessage.objects.count() == 1
    services.article_save(story, user=chief, action=Action.UNPUBLISH)
    assert not OutboxMessage.objects.exists()


def test_websub_hub_gets_a_form_ping_for_each_feed_the_story_is_on(
    client, chief, receiver, settings
):
    """With a hub configured, feeds name it (rel="hub") and themselves (rel="self"), and a
    publication pings it with `hub.mode=publish&hub.url=<feed>` for every feed it changes."""
    settings.NEWSDESK_WEBSUB_HUB = receiver.url
    story = ready_draft(chief)
    assert (
        client.post(change_url(story), form_data(story, action=Action.PUBLISH)).status_code == 302
    )
    story.refresh_from_db()
    assert "delivered" in deliver()
    forms = [urllib.parse.parse_qs(r["body"].decode(), strict_parsing=True)
             for r in receiver.requests]  # fmt: skip
    assert all(r["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
               for r in receiver.requests)  # fmt: skip
    assert all(form["hub.mode"] == ["publish"] for form in forms)
    author = story.authors.get()
    expected = {
        reverse("articles:feed-rss"),
        reverse("articles:feed-atom"),
        reverse("articles:category-feed", kwargs={"slug": story.category.slug}),
        reverse("articles:author-feed", kwargs={"slug": author.slug}),
    }
    assert {urllib.parse.urlsplit(form["hub.url"][0]).path for form in forms} == expected

    for name in ("articles:feed-rss", "articles:feed-atom"):
        url = reverse(name)
        feed = feedparser.parse(client.get(url).content)
        links = {link["rel"]: link["href"] for link in feed.feed.links}
        assert links["hub"] == receiver.url
        assert links["self"].endswith(url)


def test_feeds_name_no_hub_when_none_is_configured(client, settings):
    settings.NEWSDESK_WEBSUB_HUB = ""
    feed = feedparser.parse(client.get(reverse("articles:feed-atom")).content)
    assert "hub" not in {link["rel"] for link in feed.feed.links}
    assert not OutboxMessage.objects.exists()


def test_only_superusers_see_webhooks(client):
    editor = make_editor("ed", perms=["articles.view_webhook", "articles.change_webhook"])
    client.force_login(editor)
    assert client.get(reverse("admin:articles_webhook_changelist")).status_code == 403
    assert client.get(reverse("admin:articles_webhook_add")).status_code == 403


def test_the_desk_refuses_a_webhook_url_that_is_not_http(client, chief):
    response = client.post(
        reverse("admin:articles_webhook_add"),
        {"url": "file:///etc/passwd", "secret": SECRET, "active": "on"},
    )
    assert response.status_code == 200 and not Webhook.objects.exists()


@pytest.mark.parametrize("interval", ["abc", "0", "-5", "99999"])
def test_deliver_webhooks_refuses_a_bad_interval(interval):
    with pytest.raises(CommandError, match="--interval"):
        call_command("deliver_webhooks", "--loop", "--interval", interval)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL's row locks; SQLite's turn-taking is the process test below",
)
@pytest.mark.django_db(transaction=True)
def test_workers_running_at_once_send_each_message_once_in_order(receiver):
    """Four workers at once over two endpoints (SKIP LOCKED claims): every message arrives
    exactly once, and each endpoint gets its messages in event order."""
    hooks = [hook_for(receiver), Webhook.objects.create(url=receiver.url + "/2", secret=SECRET)]
    stories = [make_live_article(headline=f"Story {n}") for n in range(6)]
    for story in stories:
        services.article_trash(story, user=None)
    receiver.hold_first = True
    errors = []

    def worker():
        try:
            webhooks.deliver_due()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    ids = [json.loads(r["body"])["id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 12
    for hook in hooks:
        heads = [json.loads(r["body"])["article"]["headlines"][0]["value"]
                 for r in receiver.requests if r["path"] == urllib.parse.urlsplit(hook.url).path]  # fmt: skip
        assert heads == [f"Story {n}" for n in range(6)]
    assert not OutboxMessage.objects.pending().exists()
    assert receiver.overlapped  # two workers were sending at the same time


def test_deliver_webhooks_processes_at_once_on_sqlite_send_each_once_in_order(receiver, tmp_path):
    """Four `deliver_webhooks --once` processes on one SQLite file: IMMEDIATE transactions take
    turns at claiming, so every message arrives once and each endpoint's in order."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/newsdesk.sqlite3",
           "DJANGO_DEBUG": "1", "DJANGO_HTTPS": "0"}  # fmt: skip
    manage = [sys.executable, str(ROOT / "manage.py")]

    def run(*args):
        return subprocess.run([*manage, *args], env=env, cwd=ROOT, check=True, timeout=120,
                              capture_output=True, text=True)  # fmt: skip

    run("migrate", "--noinput", "-v0")
    run("shell", "-c", (
        "from articles.models import Webhook\n"
        "from articles.webhooks import send_test\n"
        f"hooks = [Webhook.objects.create(url={receiver.url!r} + path, secret='s')"
        " for path in ('', '/2')]\n"
        "for n in range(6):\n"
        "    for hook in hooks:\n"
        "        send_test(hook)\n"
    ))  # fmt: skip
    receiver.hold_first = True
    workers = [
        subprocess.Popen([*manage, "deliver_webhooks", "--once"], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]  # fmt: skip
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    ids = [(r["path"], json.loads(r["body"])["id"]) for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 12
    for path in ("/hook", "/hook/2"):
        sent = [pk for where, pk in ids if where == path]
        assert sent == sorted(sent) and len(sent) == 6
    assert receiver.overlapped  # two workers were sending at the same time


def test_unpublish_restore_and_expiry_are_told(client, chief, receiver):
    """Unpublishing in the desk sends `unpublished`, restoring a trashed story `published`, and
    a story that expires by itself `unpublished` at its expiry time (not before)."""
    hook_for(receiver)
    story = make_live_article(headline="Unpublish me")
    response = client.post(
        reverse("admin:articles_article_changelist"),
        {"action": "unpublish_selected", "_selected_action": [story.pk], "index": "0"},
    )
    assert response.status_code == 302
    gone = make_live_article(headline="Back from the trash")
    services.article_trash(gone, user=chief)
    trash = reverse("admin:articles_article_trash")
    assert client.post(trash, {"restore": gone.pk}).status_code == 302
    expiring = make_live_article(headline="Expires")
    expiring.unpublish_at = timezone.now() + dt.timedelta(hours=2)
    services.article_save(expiring, user=chief, action=Action.SAVE, substantive=True)
    deliver()
    assert receiver.events == ["unpublished", "deleted", "published", "updated"]
    assert deliver().startswith("0 delivered")  # the expiry is not due yet

    past = timezone.now() - dt.timedelta(seconds=1)
    Article.objects.filter(pk=expiring.pk).update(unpublish_at=past)
    OutboxMessage.objects.pending().update(occurred_at=past, deliver_after=past)
    assert "1 delivered" in deliver()
    assert receiver.events[-1] == "unpublished"
    assert json.loads(receiver.requests[-1]["body"])["article"]["headlines"][0]["value"] == (
        "Expires"
    )


def test_an_edit_builds_the_ninjs_body_only_when_a_webhook_wants_it(
    client, chief, receiver, monkeypatch
):
    built = []
    real = webhooks.to_ninjs
    monkeypatch.setattr(
        webhooks, "to_ninjs", lambda article: built.append(article.pk) or real(article)
    )
    story = make_live_article()
    edited = change_form_data(story, body="A new paragraph.")
    assert client.post(change_url(story), edited).status_code == 302
    assert built == [] and not OutboxMessage.objects.exists()
    hook_for(receiver)
    story.refresh_from_db()
    assert client.post(change_url(story), change_form_data(story, body="Again.")).status_code == 302
    assert built == [story.pk]
    deliver()
    assert receiver.events == ["updated"]
