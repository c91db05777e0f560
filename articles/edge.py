"""Purging the HTTP cache in front of Newsdesk (Varnish with the xkey vmod), by key.

`cache.pages_changed` calls `purge(keys)` after COMMIT. For every URL in
`NEWSDESK_EDGE_PURGE_URLS` (comma-separated, e.g. `http://127.0.0.1:6081/`) it sends

    PURGE <url>
    xkey-purge: a:12 front section:3 ...

(the header name is `NEWSDESK_EDGE_PURGE_HEADER`, `xkey-purge` by default: what Varnish VCL
using `xkey.purge(req.http.xkey-purge)` commonly reads). Keys are the ones public responses carry
in their `Surrogate-Key` and `xkey` headers (see `cache.py`); long key lists go in several
requests of at most `KEYS_PER_REQUEST` keys. Each request has a short timeout
(`NEWSDESK_EDGE_PURGE_TIMEOUT` seconds); a failure is logged and never breaks a save: the edge
then keeps the page until its `s-maxage` runs out.
"""

import logging
import urllib.error
import urllib.request

from django.conf import settings

logger = logging.getLogger(__name__)

KEYS_PER_REQUEST = 100


def purge(keys) -> int:
    """Send `keys` to every configured purge URL; returns how many requests succeeded."""
    keys = list(keys)
    done = 0
    for url in settings.EDGE_PURGE_URLS:
        for start in range(0, len(keys), KEYS_PER_REQUEST):
            chunk = " ".join(keys[start : start + KEYS_PER_REQUEST])
            request = urllib.request.Request(
                url, method="PURGE", headers={settings.EDGE_PURGE_HEADER: chunk}
            )
            try:
                with urllib.request.urlopen(request, timeout=settings.EDGE_PURGE_TIMEOUT):
                    done += 1
            except (OSError, urllib.error.URLError, ValueError):
                logger.warning("edge purge failed: %s %s", url, chunk[:200], exc_info=True)
    return done
