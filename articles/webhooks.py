"""Telling others: signed webhooks and WebSub hub pings, through a database outbox.

`article_changed` is called by `services` wherever a change readers can see is known (next to
`cache.pages_changed`). It writes `OutboxMessage` rows in the transaction of the change, so a
message exists exactly when its change committed, and nothing is sent before COMMIT: the only
reader of the outbox is `deliver_webhooks`, a command run in a loop or from cron. Saving never
waits for a receiver.

Events: `published` (first publication, a restore from the trash, and a scheduled story going
live: that one is queued when the story is scheduled, with its publication time, and checked at
that time), `updated` (a visible change to a published story, a correction edited or removed),
`corrected` (a correction added), `withdrawn`, `unpublished` (back to draft, moved to the future,
or expired, which is queued at the expiry time like a scheduled publication) and `deleted` (moved
to the trash). A change to a story drops its queued future events and queues them again, so a
rescheduled story is announced once, at its new time.

Each webhook delivery is a POST of JSON:
`{"id", "event", "occurred_at", "sent_at", "article": <ninjs>}` (`article` is null for `test`),
with the header `Newsdesk-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
receivers recompute it over the raw body and refuse a `t` older than five minutes (`verify`).
`id` is the same on every retry of one message: receivers use it to ignore repeats.

Delivery: a 2xx answer is success; anything else (a redirect, an error, a timeout) is retried
after 1, 2, 4 … minutes (at most a day apart) and given up after `MAX_ATTEMPTS`. Each endpoint
gets its messages in event order: one is sent only once every earlier one was delivered or given
up. Every attempt is kept in the message's `log`, which the desk shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from .models import Article, OutboxMessage, Webhook
from .ninjs import to_ninjs
from .seo import absolute

Event = Webhook.Event
State = Article.State
SIGNATURE_HEADER = "Newsdesk-Signature"
TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 10
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_RETRY = dt.timedelta(hours=24)
# A worker that died mid-delivery leaves its claim; another takes the message after this.
CLAIM = dt.timedelta(seconds=TIMEOUT_SECONDS + 55)
# The state a story must be in when a message queued for a later time falls due.
EXPECTED_THEN = {Event.PUBLISHED: State.PUBLISHED, Event.UNPUBLISHED: State.EXPIRED}


# --- signatures ----------------------------------------------------------------------------------


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The `Newsdesk-Signature` header value of `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the header's HMAC matches the raw body and `t` is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).partition(",v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- queueing ------------------------------------------------------------------------------------


def _events(article: Article, *, before, now) -> list[tuple[str, dt.datetime]]:
    """(event, when) for a change of `article` from state `before` (None: new) to its state."""
    after = article.state
    events = []
    if after == State.PUBLISHED:
        events.append((Event.UPDATED if before == State.PUBLISHED else Event.PUBLISHED, now))
    elif after == State.SCHEDULED:
        if before == State.PUBLISHED:
            events.append((Event.UNPUBLISHED, now))
        if article.published_at is not None:
            events.append((Event.PUBLISHED, article.published_at))
    elif after == State.WITHDRAWN:
        if before != State.WITHDRAWN:
            events.append((Event.WITHDRAWN, now))
    elif after == State.TRASHED:
        if before != State.TRASHED and article.was_published:
            events.append((Event.DELETED, now))
    elif before == State.PUBLISHED:
        events.append((Event.UNPUBLISHED, now))
    if after in (State.PUBLISHED, State.SCHEDULED) and article.unpublish_at is not None:
        events.append((Event.UNPUBLISHED, article.unpublish_at))
    return events


def article_changed(article: Article, *, before=None, event: str | None = None) -> None:
    """Queue what a change of `article` tells: `event` when the caller knows it (a correction),
    otherwise what its move from state `before` to its state means. Call inside the change's
    transaction."""
    now = timezone.now()
    if event is not None:
        events = [(event, now)] if article.state == State.PUBLISHED else []
    else:
        # Events queued for later were about the story as it was: they are told again below.
        OutboxMessage.objects.pending().filter(
            article_id=article.pk, attempts=0, occurred_at__gt=now
        ).delete()
        events = _events(article, before=before, now=now)
        if before == State.PUBLISHED and _unchanged(article):
            events = [(name, when) for name, when in events if name != Event.UPDATED]
    for name, when in events:
        enqueue(article, name, occurred_at=when)


def _unchanged(article: Article) -> bool:
    """Whether the save just made kept the story as it was (a form saved as it came, or only
    to add a correction): its last two revisions hold the same text and placement."""
    last_two = list(
        article.revisions.filter(pending=False)
        .order_by("-number")
        .values_list("data", flat=True)[:2]
    )
    return len(last_two) == 2 and _readers_see(last_two[0]) == _readers_see(last_two[1])


def _readers_see(data: dict) -> dict:
    """A revision's data as readers see it: times to the second (the change form drops the
    fraction a "Publish now" stamped, which no page shows)."""
    return {
        name: value[:19] if name in ("published_at", "unpublish_at") and value else value
        for name, value in data.items()
    }


def _envelope(article: Article | None, event: str, occurred_at: dt.datetime) -> dict:
    return {
        "event": str(event),
        "occurred_at": occurred_at.isoformat(),
        "article": to_ninjs(article) if article is not None else None,
    }


def feed_urls(article: Article, event: str) -> list[str]:
    """The feeds a change of `article` may change: the site's, its section's, its authors'."""
    urls = [reverse("articles:feed-rss"), reverse("articles:feed-atom")]
    if article.category_id:
        urls.append(reverse("articles:category-feed", kwargs={"slug": article.category.slug}))
    for author in article.authors.all():
        urls.append(reverse("articles:author-feed", kwargs={"slug": author.slug}))
    if event == Event.CORRECTED:
        urls.append(reverse("articles:corrections_feed"))
    return [absolute(url) for url in urls]


def enqueue(
    article: Article, event: str, *, occurred_at: dt.datetime | None = None
) -> list[OutboxMessage]:
    """One message per active webhook that wants `event`, and one hub ping per feed."""
    now = timezone.now()
    occurred_at = occurred_at or now
    common = {"event": event, "article_id": article.pk, "occurred_at": occurred_at,
              "deliver_after": occurred_at}  # fmt: skip
    hooks = [hook for hook in Webhook.objects.filter(active=True) if hook.wants(event)]
    # A message for later gets its body when it falls due, from the story as it is then. With
    # no webhook wanting the event, no body is built (the story's ninjs, its body rendered).
    body = _envelope(article, event, occurred_at) if hooks and occurred_at <= now else None
    messages = [
        OutboxMessage(
            kind=OutboxMessage.Kind.WEBHOOK,
            webhook=hook,
            url=hook.url,
            channel=f"webhook:{hook.pk}",
            body=body,
            **common,
        )
        for hook in hooks
    ]
    hub = settings.NEWSDESK_WEBSUB_HUB
    if hub:
        messages += [
            OutboxMessage(
                kind=OutboxMessage.Kind.WEBSUB,
                url=hub,
                channel=f"websub:{hub}"[:520],
                body={"hub.mode": "publish", "hub.url": feed},
                **common,
            )
            for feed in feed_urls(article, event)
        ]
    return OutboxMessage.objects.bulk_create(messages)


def send_test(webhook: Webhook) -> OutboxMessage:
    """Queue a `test` event for `webhook`, behind whatever it is still owed."""
    now = timezone.now()
    return OutboxMessage.objects.create(
        kind=OutboxMessage.Kind.WEBHOOK,
        webhook=webhook,
        url=webhook.url,
        channel=f"webhook:{webhook.pk}",
        event=Event.TEST,
        body=_envelope(None, Event.TEST, now),
        occurred_at=now,
        deliver_after=now,
    )


# --- delivering ----------------------------------------------------------------------------------


def deliver_due(*, limit: int = 500, pk: int | None = None) -> Counter:
    """Send what is due now, oldest event first, up to `limit` messages (only message `pk` when
    given, and only when it is due); count them by outcome."""
    outcomes = Counter()
    while sum(outcomes.values()) < limit:
        message = _claim(pk=pk)
        if message is None:
            break
        outcomes[_send(message) if message.gave_up_at is None else "cancelled"] += 1
        if pk is not None:
            break
    return outcomes


def _claim(*, pk: int | None = None) -> OutboxMessage | None:
    """Take the first due message for this worker (rows another worker holds are skipped on
    PostgreSQL; SQLite's IMMEDIATE transactions take turns), and fill in a body queued for later."""
    now = timezone.now()
    with transaction.atomic():
        due = OutboxMessage.objects.due(now=now)
        if pk is not None:
            due = due.filter(pk=pk)
        message = (
            due.select_related("webhook").select_for_update(skip_locked=True, of=("self",)).first()
        )
        if message is None:
            return None
        message.claimed_until = now + CLAIM
        if message.body is None:
            article = Article.objects.filter(pk=message.article_id).first()
            expected = EXPECTED_THEN.get(message.event)
            if article is None or article.state != expected:
                message.gave_up_at = now
                message.last_error = "Cancelled: the story is not in that state any more."
            else:
                message.body = _envelope(article, message.event, message.occurred_at)
        message.save(update_fields=["claimed_until", "gave_up_at", "last_error", "body"])
    return message


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to retry, not a second address to send a signed body to."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _request(message: OutboxMessage) -> urllib.request.Request:
    headers = {"User-Agent": "Newsdesk-Webhooks/1"}
    if message.kind == OutboxMessage.Kind.WEBSUB:
        data = urllib.parse.urlencode(message.body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urllib.request.Request(message.url, data, headers, method="POST")
    payload = {"id": message.pk, **message.body, "sent_at": timezone.now().isoformat()}
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers.update(
        {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(message.webhook.secret, data, int(time.time())),
            "Newsdesk-Event": message.event,
            "Newsdesk-Delivery": str(message.pk),
        }
    )
    return urllib.request.Request(message.webhook.url, data, headers, method="POST")


def _post(message: OutboxMessage) -> tuple[int | None, str]:
    """(HTTP status or None, error) of one attempt; never raises for a receiver's failure."""
    if message.kind == OutboxMessage.Kind.WEBHOOK and not message.webhook.active:
        return None, "The webhook is switched off."
    try:
        with _opener.open(_request(message), timeout=TIMEOUT_SECONDS) as response:
            response.read(1024)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code} {exc.reason}"[:500]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:500] or type(exc).__name__


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt: 1, 2, 4 … minutes, at most a day."""
    return min(FIRST_RETRY * 2 ** min(attempts - 1, 20), LONGEST_RETRY)


def _send(message: OutboxMessage) -> str:
    started = time.monotonic()
    status, error = _post(message)
    now = timezone.now()
    message.attempts += 1
    message.last_status, message.last_error, message.claimed_until = status, error, None
    message.log = [
        *message.log,
        {"at": now.isoformat(), "status": status, "error": error,
         "ms": round((time.monotonic() - started) * 1000)},
    ]  # fmt: skip
    if status is not None and 200 <= status < 300:
        message.delivered_at, outcome = now, "delivered"
    elif message.attempts >= MAX_ATTEMPTS or (message.webhook_id and not message.webhook.active):
        message.gave_up_at, outcome = now, "given up"
    else:
        message.deliver_after, outcome = now + retry_delay(message.attempts), "failed"
    # An update, not a save: a webhook deleted meanwhile took its messages with it.
    fields = ["attempts", "last_status", "last_error", "claimed_until", "log", "delivered_at",
              "gave_up_at", "deliver_after"]  # fmt: skip
    OutboxMessage.objects.filter(pk=message.pk).update(
        **{name: getattr(message, name) for name in fields}
    )
    return outcome
