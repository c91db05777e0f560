"""Previews of unpublished articles: for staff who may edit them, and signed share links."""

from django.core import signing
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from . import workflow
from .models import SHARE_LINK_SALT, Article, ShareLink, ShareLinkOpen


def _render_preview(request, article, *, shared=False):
    response = render(
        request,
        "articles/article_preview.html",
        {"article": article, "object": article, "preview": True, "shared_preview": shared},
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _article(pk):
    return get_object_or_404(Article.objects.for_listing(), pk=pk)


@never_cache
def preview(request, pk):
    """Staff who may edit the article see it as readers will; everyone else gets 404."""
    article = _article(pk)
    if not workflow.can_preview(request.user, article):
        raise Http404("No such article.")
    return _render_preview(request, article)


@never_cache
def shared_preview(request, token):
    """A signed link for someone without an account; expired or revoked links are 404."""
    try:
        link_id = signing.loads(token, salt=SHARE_LINK_SALT)
    except signing.BadSignature:
        raise Http404("No such preview.") from None
    link = ShareLink.objects.filter(pk=link_id).first()
    if link is None or link.revoked_at is not None or link.expires_at <= timezone.now():
        raise Http404("This preview link has expired or been revoked.")
    ShareLinkOpen.objects.create(link=link, user_agent=request.headers.get("User-Agent", "")[:200])
    return _render_preview(request, _article(link.article_id), shared=True)
