"""Signing in to the desk: lockouts after repeated failures (by username + client address), the
lockout page, the audit trail and log of failures, unlocking, the redirect after signing in,
and guessers that cannot starve readers of a real server."""

import http.client
import io
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import CommandError, call_command
from django.urls import reverse

from articles.models import AuditEntry

from .factories import make_user

pytestmark = pytest.mark.django_db

Action = AuditEntry.Action
LOGIN = "/admin/login/"
PASSWORD = "pw-Newsdesk-1"


def attempt(client, username="ann", password="wrong", **extra):
    return client.post(
        LOGIN + "?next=/admin/", {"username": username, "password": password}, **extra
    )


def signed_in(client):
    return "_auth_user_id" in client.session


# --- lockouts ------------------------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_account_and_the_right_one_is_refused(client):
    make_user("ann")
    statuses = [attempt(client).status_code for _ in range(30)]
    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {429}
    response = attempt(client, password=PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)


def test_a_username_no_column_can_hold_is_refused_like_any_wrong_one(client):
    # Axes keeps the username in its access log (255 characters): it counts and stores it cut to
    # what a username can be, so the guess is a failure like any other, not a 500.
    answers = [attempt(client, username="x" * 1000).status_code for _ in range(6)]
    assert answers == [200] * 4 + [429] * 2
    assert not signed_in(client)


@pytest.mark.parametrize("username", ["ann\x00", "\x00" * 3])
def test_a_username_with_a_nul_is_a_form_error(client, username):
    make_user("ann")
    response = attempt(client, username=username)
    assert response.status_code == 200 and "Null characters are not allowed" in response.text
    assert not signed_in(client)


def test_lockout_page_is_the_sign_in_page_saying_when_to_try_again(client, settings):
    make_user("ann")
    for _ in range(5):
        response = attempt(client)
    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)
    html = response.content.decode()
    assert 'id="login-form"' in html
    assert "Too many failed sign-ins as “ann”" in html
    assert "locked for 15 minutes" in html
    assert re.search(r"Try again after \d\d:\d\d", html)
    assert "Please enter the correct" not in html  # no contradicting "wrong password" notice


def test_failure_count_and_cool_off_come_from_the_environment_settings(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    make_user("ann")
    assert [attempt(client).status_code for _ in range(2)] == [200, 429]


def test_a_successful_sign_in_resets_the_count(client):
    make_user("ann")
    for _ in range(4):
        attempt(client)
    assert attempt(client, password=PASSWORD).status_code == 302
    client.logout()
    assert [attempt(client).status_code for _ in range(4)] == [200] * 4


def test_a_lockout_is_per_username_and_address(client):
    make_user("ann")
    make_user("bob")
    for _ in range(5):
        attempt(client)
    assert attempt(client, "bob", PASSWORD).status_code == 302
    client.logout()
    assert attempt(client, "ann", PASSWORD, REMOTE_ADDR="192.0.2.44").status_code == 302


class CountingHasher(MD5PasswordHasher):
    """The tests' fast hasher, counting every password it hashes or checks."""

    calls = 0

    def encode(self, password, salt):
        type(self).calls += 1
        return super().encode(password, salt)


def test_a_locked_out_attempt_hashes_no_password(client, settings):
    settings.PASSWORD_HASHERS = ["articles.tests.test_logins.CountingHasher"]
    make_user("ann")
    for _ in range(5):
        attempt(client)
    before = CountingHasher.calls
    for password in ("wrong", PASSWORD, "another"):
        assert attempt(client, password=password).status_code == 429
    assert CountingHasher.calls == before
    assert attempt(client, "nobody").status_code == 200  # a pair not locked is still checked
    assert CountingHasher.calls > before


# --- the client's address ------------------------------------------------------------------------


def test_a_client_cannot_choose_its_address_with_x_forwarded_for(client):
    """Without a trusted proxy, a forwarded-for header is ignored: the lockout stays on the
    address that connected, however the header changes."""
    make_user("ann")
    for n in range(5):
        attempt(client, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = attempt(
        client, password=PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert response.status_code == 429
    lockout = AuditEntry.objects.get(action=Action.LOCKOUT)
    assert lockout.detail["ip"] == "198.51.100.7"


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.5", "10.1.0.0/16"]
    make_user("ann")
    via_proxy = {"REMOTE_ADDR": "10.0.0.5"}
    for _ in range(5):
        # What the client sent first, then what the edge proxy (10.1.2.3) saw connect to it.
        attempt(client, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9, 10.1.2.3", **via_proxy)
    locked = attempt(
        client, password=PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9, 10.1.2.3", **via_proxy
    )
    assert locked.status_code == 429
    assert AuditEntry.objects.get(action=Action.LOCKOUT).detail["ip"] == "203.0.113.9"
    # Another reader behind the same proxy is not locked out with them.
    other = attempt(client, password=PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.10", **via_proxy)
    assert other.status_code == 302
    client.logout()
    # A client connecting directly cannot pretend to be behind the proxy: its own address counts.
    AuditEntry.objects.all().delete()
    attempt(client, REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="203.0.113.10, 10.0.0.5")
    assert AuditEntry.objects.get(action=Action.LOGIN_FAILED).detail["ip"] == "198.51.100.20"


# --- audit trail and log -------------------------------------------------------------------------


def test_failures_and_the_lockout_are_audited_and_logged_without_the_password(client, caplog):
    make_user("ann")
    with caplog.at_level(logging.WARNING, logger="newsdesk.security"):
        for _ in range(8):
            attempt(client, password="hunter2-secret")
    failed = AuditEntry.objects.filter(action=Action.LOGIN_FAILED)
    assert failed.count() == 5  # the three refused while locked checked no password
    assert AuditEntry.objects.filter(action=Action.LOCKOUT).count() == 1
    for entry in AuditEntry.objects.all():
        assert entry.object_repr == "ann" and entry.user is None
        assert entry.detail["username"] == "ann" and entry.detail["ip"] == "127.0.0.1"
        assert "hunter2" not in str(entry.detail)
    lines = [r.getMessage() for r in caplog.records if r.name == "newsdesk.security"]
    assert len(lines) == 9  # five failures, one lockout, three refusals
    assert all(
        r.levelno == logging.WARNING for r in caplog.records if r.name == "newsdesk.security"
    )
    assert all("'ann'" in line and "127.0.0.1" in line for line in lines)
    assert not any("hunter2" in r.getMessage() for r in caplog.records)


def test_audit_trail_lists_and_filters_sign_in_failures(client, admin_client):
    make_user("ann")
    for _ in range(5):
        attempt(client)
    url = reverse("admin:articles_auditentry_changelist")
    failed = admin_client.get(url, {"action__exact": Action.LOGIN_FAILED}).content.decode()
    assert failed.count("A sign-in as “ann” from 127.0.0.1 failed") == 5
    assert "locked out" not in failed
    lockouts = admin_client.get(url, {"action__exact": Action.LOCKOUT}).content.decode()
    assert "Sign-ins as “ann” from 127.0.0.1 were locked out after 5 failures" in lockouts
    assert "failed —" not in lockouts


# --- unlocking -----------------------------------------------------------------------------------


def lock_ann(client, **extra):
    make_user("ann")
    for _ in range(5):
        attempt(client, **extra)
    assert attempt(client, password=PASSWORD, **extra).status_code == 429


def test_unlock_login_command_lifts_the_lockout_and_audits_it(client):
    lock_ann(client)
    out = io.StringIO()
    call_command("unlock_login", "ann", stdout=out)
    assert "Unlocked 'ann'" in out.getvalue()
    entry = AuditEntry.objects.get(action=Action.UNLOCK)
    assert entry.object_repr == "ann" and entry.user is None
    assert attempt(client, password=PASSWORD).status_code == 302


def test_unlock_login_command_with_an_address_lifts_only_that_one(client):
    lock_ann(client)
    lock_other = {"REMOTE_ADDR": "192.0.2.8"}
    for _ in range(5):
        attempt(client, **lock_other)
    call_command("unlock_login", "ann", "--ip", "192.0.2.8", stdout=io.StringIO())
    assert attempt(client, password=PASSWORD).status_code == 429
    assert attempt(client, password=PASSWORD, **lock_other).status_code == 302
    assert AuditEntry.objects.get(action=Action.UNLOCK).detail["ip"] == "192.0.2.8"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No failed sign-ins recorded for 'nobody'"),
        (["ann"], "No failed sign-ins recorded for 'ann'"),
        (["ann", "--ip", "not-an-ip"], "'not-an-ip' is not an IP address"),
    ],
)
def test_unlock_login_command_refuses_what_it_cannot_unlock(args, message):
    make_user("ann")
    with pytest.raises(CommandError, match=message):
        call_command("unlock_login", *args)
    assert not AuditEntry.objects.filter(action=Action.UNLOCK).exists()


def test_superuser_unlocks_from_the_desk_and_it_is_audited(client, admin_client, admin_user):
    lock_ann(client)
    url = reverse("admin:axes_accessattempt_changelist")
    page = admin_client.get(url)
    assert page.status_code == 200 and "ann" in page.content.decode()
    ids = list(page.context["cl"].queryset.values_list("pk", flat=True))
    response = admin_client.post(url, {"action": "unlock", "_selected_action": ids})
    assert response.status_code == 302
    assert AuditEntry.objects.get(action=Action.UNLOCK).user == admin_user
    assert attempt(client, password=PASSWORD).status_code == 302


def test_editors_cannot_see_or_lift_lockouts(client, editor):
    client.force_login(editor)
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


# --- after signing in ----------------------------------------------------------------------------


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", ""])
def test_sign_in_with_an_unsafe_or_no_next_lands_on_the_desk(client, next_url):
    make_user("ann")
    response = client.post(
        LOGIN + "?" + urllib.parse.urlencode({"next": next_url}),
        {"username": "ann", "password": PASSWORD, "next": next_url},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert client.get(response["Location"]).status_code == 200


# --- readers are not starved by guessers (a real gunicorn) ---------------------------------------


class Guesser(threading.Thread):
    """Posts wrong passwords for ever-new usernames (so none is locked out and each one costs a
    password hash) over its own keep-alive connection, until told to stop."""

    def __init__(self, port, name, stop):
        super().__init__(daemon=True)
        self.port, self.prefix, self.stop, self.answers = port, name, stop, []

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", LOGIN)
        page = conn.getresponse()
        html = page.read().decode()
        cookie = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie")).group(1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        n = 0
        while not self.stop.is_set():
            n += 1
            body = urllib.parse.urlencode(
                {
                    "csrfmiddlewaretoken": token,
                    "username": f"{self.prefix}-{n}",
                    "password": "wrong",
                }
            )
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={cookie}",
            }
            conn.request("POST", LOGIN, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            self.answers.append(response.status)


@pytest.fixture(scope="module")
def server():
    """gunicorn as deployed (gthread, 4 threads, gunicorn.conf.py), with one worker: gthread keeps
    a keep-alive connection on the worker that accepted it, and one worker often accepts them
    all, so this is the two-worker case at its worst, made certain."""
    from articles.bench import server as bench

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'site.sqlite3'}"
        env = bench.base_env(url)
        env.update(DJANGO_DATA_DIR=folder, DJANGO_STATIC_ROOT=str(Path(folder) / "static"))
        bench.manage("migrate", "--noinput", "-v0", env=env)
        bench.manage("loaddata", "seed", "-v0", env=env)
        bench.manage("collectstatic", "--noinput", "-v0", env=env)
        port = bench.free_port()
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "newsdesk.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--worker-class=gthread",
                "--threads=4",
                "--log-level=warning",
            ],
            env=env,
            cwd=bench.BASE_DIR,
        )
        try:
            deadline = time.monotonic() + 60
            while not _answers(port):
                assert process.poll() is None and time.monotonic() < deadline, "no gunicorn"
                time.sleep(0.3)
            yield port
        finally:
            process.terminate()
            process.wait(20)


def _answers(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


def front_page_latencies(port, seconds):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies = []
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        latencies.append(time.perf_counter() - start)
        time.sleep(0.01)
    return latencies


@pytest.mark.own_stack  # a real gunicorn on its own SQLite file, whatever DATABASE_URL says
def test_six_guessers_do_not_starve_readers_of_the_cached_front_page(server):
    port = server
    front_page_latencies(port, 0.5)  # stored in the page cache
    quiet = statistics.median(front_page_latencies(port, 1))
    stop = threading.Event()
    guessers = [Guesser(port, f"guesser{i}", stop) for i in range(6)]
    for guesser in guessers:
        guesser.start()
    try:
        time.sleep(1)  # every guesser hashing or queued to
        busy = front_page_latencies(port, 5)
    finally:
        stop.set()
        for guesser in guessers:
            guesser.join(60)
    answers = [status for guesser in guessers for status in guesser.answers]
    # Wrong passwords checked (200), or refused while others are (429); never an error.
    assert answers.count(200) >= 2 and set(answers) <= {200, 429}, answers
    median = statistics.median(busy)
    assert median < 0.25, (
        f"median {median * 1000:.0f} ms with six guessers, {quiet * 1000:.0f} ms without"
    )
    assert 429 in answers  # sign-ins beyond the waiting room were turned away, not queued
