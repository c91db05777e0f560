"""Gunicorn settings for Newsdesk, read by `gunicorn newsdesk.wsgi` when started from this
folder (the command line overrides any of them).

Threads (`gthread`), because with sync workers one slow desk request — a change list at 100,000
articles — holds a whole worker while readers queue behind it; with threads, cache hits (answered
in a tenth of a millisecond by the WSGI front door) interleave with it. Python hands the
interpreter lock between threads every 5 ms by default, so a reader's short request could wait
that long behind a desk render for each step it takes; 1 ms lets readers through sooner at a
cost of a few percent to the long request.
"""

import os
import sys

worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
SWITCH_INTERVAL = float(os.environ.get("NEWSDESK_SWITCH_INTERVAL", "0.001"))


def post_fork(server, worker):
    sys.setswitchinterval(SWITCH_INTERVAL)
