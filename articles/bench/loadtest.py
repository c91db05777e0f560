"""The pure parts of `make loadtest`: the weighted mix of paths, wrk's counts by status, worker
memory, and the verdict."""

import re

# Share of wrk's requests for each kind of page (the desk's logins run beside wrk, in threads).
MIX = {"front": 20, "article": 35, "archive": 15, "search": 10, "feed": 10, "section": 10}
MAX_RSS_GROWTH = 0.20  # worker memory after the run, against right after the warm-up


def weighted_paths(groups, mix=MIX, slots=1000):
    """One path a line for wrk's script to draw from: each group gets about its share of the
    `slots` lines, spread evenly over its own paths."""
    empty = [name for name in mix if not groups.get(name)]
    if empty:
        raise ValueError(f"no paths for {', '.join(empty)}")
    total = sum(mix.values())
    lines = []
    for name, weight in mix.items():
        paths = groups[name]
        share = max(len(paths), round(slots * weight / total))
        lines += [paths[i % len(paths)] for i in range(share)]
    return lines


def parse_statuses(output):
    """{status: count} from the `status 200 1234` lines `loadtest.lua` prints."""
    return {int(s): int(n) for s, n in re.findall(r"^status (\d{3}) (\d+)$", output, re.M)}


def parse_socket_errors(output):
    found = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return sum(int(n) for n in found.groups()) if found else 0


def rss_growth(before, after):
    """{pid: growth} of each worker's memory ({pid: MB} before and after); a worker that is gone
    or new has no figure (None)."""
    return {
        pid: (after[pid] / before[pid] - 1) if pid in after and before.get(pid) else None
        for pid in sorted(set(before) | set(after))
    }


def verdict(*, statuses, socket_errors, desk, growth, max_growth=MAX_RSS_GROWTH):
    """What failed, one line each; an empty list is a pass."""
    failures = []
    if not statuses:
        failures.append("wrk counted no answers")
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    if server_errors:
        failures.append(f"{server_errors} answers were 5xx")
    others = {s: n for s, n in statuses.items() if not 200 <= s < 400 and s < 500}
    if others:
        failures.append(
            "non-2xx/3xx answers: " + ", ".join(f"{s} × {n}" for s, n in others.items())
        )
    if socket_errors:
        failures.append(f"{socket_errors} socket errors (connect, read, write or timeout)")
    if not desk.get("logins"):
        failures.append("no desk login went through")
    if desk.get("failures"):
        failures.append(f"{desk['failures']} desk requests failed (last: {desk.get('last', '')})")
    for pid, grew in growth.items():
        if grew is None:
            failures.append(f"worker {pid} was replaced during the run")
        elif grew > max_growth:
            failures.append(
                f"worker {pid} grew {grew:.0%} after the warm-up (limit {max_growth:.0%})"
            )
    return failures


def render(*, statuses, figures, socket_errors, desk, before, after, growth):
    ok = sum(n for s, n in statuses.items() if 200 <= s < 400)
    lines = [
        f"requests: {sum(statuses.values()):,} ({figures['rps']:.0f}/s), 2xx/3xx: {ok:,}, "
        f"socket errors: {socket_errors}",
        "by status: " + ", ".join(f"{s} × {n:,}" for s, n in sorted(statuses.items())),
        "5xx: " + str(sum(n for s, n in statuses.items() if s >= 500)),
        f"p50: {_ms(figures['p50'])}, p99: {_ms(figures['p99'])}",
        f"desk: {desk.get('logins', 0)} logins and {desk.get('lists', 0)} change lists, "
        f"{desk.get('failures', 0)} failed",
    ]
    for pid in sorted(set(before) | set(after)):
        grew = growth.get(pid)
        lines.append(
            f"worker {pid} RSS: {before.get(pid, '—')} MB after warm-up → {after.get(pid, '—')} MB "
            f"at the end" + (f" ({grew:+.1%})" if grew is not None else "")
        )
    return "\n".join(lines)


def _ms(value):
    return "—" if value is None else f"{value:.1f} ms"
