"""Gunicorn settings for Newsdesk, read by `gunicorn newsdesk.wsgi` when started from this
folder (the command line overrides any of them).

Threads (`gthread`), because with sync workers one slow desk request — a change list at 100,000
articles — holds a whole worker while readers queue behind it; with threads, cache hits (answered
in a tenth of a millisecond by the WSGI front door) interleave with it. Python hands the
interpreter lock between threads every 5 ms by default, so a reader's short request could wait
that long behind a desk render for each step it takes; 1 ms lets readers through sooner at a
cost of a few percent to the long request.

The worker is `gthread` with two changes (`newsdesk/gunicorn_worker.py`): a request is read whole
by the worker's event loop before a thread sees it, so a client that trickles its headers or its
body holds no thread, and one that runs out of time gets a 408 instead of a stalled site; and a
revalidation the worker can answer from its copies of the ETags gets its 304 from the loop itself.
Gunicorn's own `timeout` never fires for a blocked gthread thread (the loop keeps the worker's
heartbeat), so it cannot be the guard.
"""

import gc
import os
import sys

worker_class = "newsdesk.gunicorn_worker.BufferingThreadWorker"
# One worker more than the machine has cores, three threads each. Measured on 2 cores against
# 2 × 4: a worker waiting on PostgreSQL leaves its core to another (uncached pages +10-20% there,
# level on SQLite), and a save holds the interpreter lock of a third of the readers instead of
# half (cached readers kept 0.91-0.96× of their quiet rate under the live desk, against
# 0.83-0.87×). A cache hit costs a little more with a third process on two cores.
workers = int(os.environ.get("GUNICORN_WORKERS", str((os.cpu_count() or 1) + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "3"))
# Requests are small: a request line of 4 KiB and 100 header lines of 8 KiB at most (gunicorn's
# defaults, stated here). Bodies are limited by the worker (NEWSDESK_MAX_REQUEST_BYTES).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
SWITCH_INTERVAL = float(os.environ.get("NEWSDESK_SWITCH_INTERVAL", "0.001"))
# Desk requests run on a lane of one thread per worker at a lower CPU priority, so a busy desk
# cannot starve readers (`articles.middleware.DeskLaneMiddleware`; 0 turns the lane off).
os.environ.setdefault("NEWSDESK_DESK_LANE", "1")


def post_fork(server, worker):
    sys.setswitchinterval(SWITCH_INTERVAL)


def post_worker_init(worker):
    # Django, its URL configuration and the project's modules are loaded and live as long as the
    # worker: moved out of the collector's generations, a full collection (which a list page of a
    # hundred model instances sets off) no longer walks them; 6-12% off an uncached page.
    gc.freeze()
