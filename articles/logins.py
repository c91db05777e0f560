"""Signing in to the desk: who may try, how often, and what is written down.

django-axes (settings: `AXES_*`) counts failed sign-ins per username + client address in the
database and, after `NEWSDESK_LOGIN_FAILURES` of them, refuses that pair for
`NEWSDESK_LOGIN_COOLOFF_MINUTES` after its last attempt. Its backend runs first, so a refused
attempt never reaches a password hash. This module adds what is Newsdesk's own:

- `client_ip`: the address axes counts by, trusting X-Forwarded-For only from our own proxies;
- `client_username`: the username it counts by, as a username column can hold it;
- `ThrottledModelBackend`: Django's password check, at most `LOGIN_HASHING` at a time per
  worker process, so guessers queue behind each other instead of taking the cores from readers;
- `SignInThrottleMiddleware`: at most `LOGIN_HASHING + LOGIN_WAITING` sign-ins in a worker
  process at once, the rest answered 429 straight away, so they cannot hold every thread either;
- `lockout_response`: the desk's sign-in page with the lockout notice, answered 429;
- `login_failed`: the audit entry and log line of each failed sign-in and each lockout;
- `login_unlock`: lifting a lockout early (the `unlock_login` command, the desk's action).

The audit entries themselves are written by `services.audit_login_event`, next to the audit of
successful sign-ins.
"""

from __future__ import annotations

import functools
import ipaddress
import threading

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from .models import AuditEntry
from .services import audit_login_event, security_log

Action = AuditEntry.Action


# --- the client's address ----------------------------------------------------------------------


@functools.cache
def _trusted_networks(proxies: tuple[str, ...]):
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"NEWSDESK_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
            ) from None
    return tuple(networks)


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted_proxy(address) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    return address is not None and any(address in network for network in networks)


def client_ip(request) -> str | None:
    """The address that connected, unless it is one of our proxies: then the nearest
    X-Forwarded-For hop that is not one of them (each proxy appends who connected to it, so the
    hops left of that one are whatever the client chose to send)."""
    remote = request.META.get("REMOTE_ADDR") or None
    if not _is_trusted_proxy(_address(remote or "")):
        return remote
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        if not _is_trusted_proxy(address):
            return str(address)
    return remote


def client_username(request, credentials=None) -> str | None:
    """The username a sign-in tried, as axes counts and stores it: from the credentials (or the
    posted form), without NULs, cut to the longest username there can be."""
    field = get_user_model().USERNAME_FIELD
    if credentials:
        name = credentials.get(field)
    else:
        name = getattr(request, "data", request.POST).get(field)
    if name is None:
        return None
    limit = get_user_model()._meta.get_field(field).max_length or 150
    return str(name).replace("\x00", "")[:limit]


# --- checking passwords ------------------------------------------------------------------------

_hashing = threading.BoundedSemaphore(settings.LOGIN_HASHING)


class ThrottledModelBackend(ModelBackend):
    """Django's username + password check, one password hash at a time per worker process (or
    `LOGIN_HASHING`): a hash takes a core for a third of a second, and six guessers hashing at
    once on two cores would leave readers waiting over a second for a cached page."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        with _hashing:
            return super().authenticate(request, username=username, password=password, **kwargs)


_signing_in = threading.BoundedSemaphore(settings.LOGIN_HASHING + settings.LOGIN_WAITING)
BUSY_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Busy: try again</title>"
    "<h1>Too many sign-ins at once</h1><p>The desk is busy checking other sign-ins. "
    'Please <a href="">try again</a> in a few seconds.</p></html>'
)


class SignInThrottleMiddleware:
    """A gthread worker has a few threads (4) for every request it serves, readers' included. A
    sign-in waiting for its turn to hash holds one, so beyond `LOGIN_HASHING + LOGIN_WAITING`
    sign-ins at once the rest are refused at once (429, a few bytes, no database), leaving the
    other threads to readers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST" or request.path != reverse("admin:login"):
            return self.get_response(request)
        if not _signing_in.acquire(blocking=False):
            security_log.warning("Sign-in refused (busy): ip=%s", client_ip(request) or "-")
            response = HttpResponse(BUSY_PAGE, status=429)
            response["Retry-After"] = "5"
            response["Cache-Control"] = "no-store"
            return response
        try:
            return self.get_response(request)
        finally:
            _signing_in.release()


# --- lockouts ----------------------------------------------------------------------------------


def lockout_response(request, original_response=None, credentials=None):
    """`AXES_LOCKOUT_CALLABLE`: the sign-in page again, empty, saying why and until when."""
    username = (credentials or {}).get(get_user_model().USERNAME_FIELD) or ""
    cool_off = settings.AXES_COOLOFF_TIME
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "app_path": request.get_full_path(),
        "form": AdminAuthenticationForm(request, initial={"username": username}),
        "next": next_url,
        "username": request.user.get_username() if hasattr(request, "user") else "",
        "lockout": {
            "username": username,
            "failures": settings.AXES_FAILURE_LIMIT,
            "minutes": int(cool_off.total_seconds() // 60),
            "until": timezone.localtime() + cool_off,
        },
    }
    response = render(request, "admin/login.html", context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    response["Cache-Control"] = "no-store"
    return response


def login_failed(sender, credentials, request=None, **kwargs):
    """`user_login_failed` receiver (connected in apps.py, after django-axes' own, which has
    counted this attempt by then): one LOGIN_FAILED entry per wrong password, and a LOCKOUT
    entry for the one that locked the pair. Attempts axes refused during a lockout (counted past
    the limit, no password checked) are logged only, so a guesser cannot grow the audit trail."""
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")[:150]
    ip_address = getattr(request, "axes_ip_address", None) if request is not None else None
    failures = getattr(request, "axes_failures_since_start", 0) or 0
    if failures > settings.AXES_FAILURE_LIMIT:
        security_log.warning(
            "Login refused (locked out): username=%r ip=%s", username, ip_address or "-"
        )
        return
    audit_login_event(action=Action.LOGIN_FAILED, username=username, ip_address=ip_address)
    if getattr(request, "axes_locked_out", False):
        audit_login_event(
            action=Action.LOCKOUT,
            username=username,
            ip_address=ip_address,
            failures=failures,
            minutes=int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        )


def login_unlock(*, username: str, ip_address: str | None = None, user=None) -> int:
    """Forget the failed sign-ins of `username` (from `ip_address` only, if given), lifting its
    lockout; returns how many records went. One UNLOCK audit entry when there were any."""
    from axes.models import AccessAttempt

    attempts = AccessAttempt.objects.filter(username=username)
    if ip_address:
        attempts = attempts.filter(ip_address=ip_address)
    count = attempts.delete()[1].get(AccessAttempt._meta.label, 0)
    if count:
        audit_login_event(action=Action.UNLOCK, username=username, ip_address=ip_address, user=user)
    return count
