"""The pure parts of `make bench`: reading wrk's output, ratios, the table and the targets."""

import math
import re

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_duration_ms(text):
    """wrk's '812.00us', '3.41ms', '1.20s' or '1.5m' in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output):
    """req/s, p50/p99 (ms), requests, errors and non-2xx/3xx answers from `wrk --latency`."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not rps:
        raise ValueError("wrk printed no Requests/sec line")
    result = {"rps": float(rps[1]), "p50": None, "p99": None, "requests": 0, "errors": 0}
    for pct, key in (("50", "p50"), ("99", "p99")):
        found = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", output, re.M)
        if found:
            result[key] = parse_duration_ms(found[1])
    done = re.search(r"^\s+(\d+) requests in", output, re.M)
    if done:
        result["requests"] = int(done[1])
    if not result["requests"]:  # nothing finished in time: no latency was measured
        result["p50"] = result["p99"] = None
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket:
        result["errors"] += sum(int(n) for n in socket.groups())
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        result["errors"] += int(bad[1])
    return result


def median(values):
    """The middle of the values that were measured (None for none), the upper one of two."""
    found = sorted(v for v in values if v is not None)
    return found[len(found) // 2] if found else None


def combined(runs):
    """One figure for several runs of a page: the mean rate, the median p50, the worst p99, and
    the requests and errors of all of them."""
    p99s = [r["p99"] for r in runs if r.get("p99") is not None]
    return {
        "rps": sum(r["rps"] for r in runs) / len(runs),
        "p50": median(r.get("p50") for r in runs),
        "p99": max(p99s) if p99s else None,
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def ratio(value, reference):
    return value / reference if value is not None and reference else None


def fmt(value, spec=".0f", suffix=""):
    return "—" if value is None else f"{value:{spec}}{suffix}"


def figure(value):
    """A target's figure to three significant digits, cut rather than rounded, so that a figure
    under its threshold never reads as meeting it (1.497 against 1.5 shows as 1.49)."""
    if value is None:
        return "—"
    if not value or not math.isfinite(value):
        return f"{value:.3g}"
    scale = 10 ** (2 - math.floor(math.log10(abs(value))))
    return f"{math.trunc(value * scale) / scale:.3g}"


def build_rows(size_results, largest, smallest):
    """One row per page (figures at `largest`) plus the 304, live-desk, busy-desk and Varnish
    rows, every req/s also as a ratio to the bare view measured in the same run: to the run of
    it right before the page (`bare_rps`) when there is one, else to the bare view's row."""
    big = size_results[largest]
    small = size_results.get(smallest) if smallest != largest else None
    bare = big["uncached"]["bare view"]["rps"]
    rows = []
    for page, uncached in big["uncached"].items():
        cached = big.get("cached", {}).get(page)
        flat = None
        if small and page != "bare view" and page in small["uncached"]:
            before = small["uncached"][page]
            flat = ratio(
                uncached.get("p50_alone") or uncached.get("p50"),
                before.get("p50_alone") or before.get("p50"),
            )
        rows.append(
            {
                "page": page,
                "run": "",
                "uncached": uncached,
                "uncached_x": ratio(uncached["rps"], uncached.get("bare_rps") or bare),
                "cached": cached,
                "cached_x": ratio(cached["rps"], cached.get("bare_rps") or bare)
                if cached
                else None,
                "flat": flat,
                "note": "the reference (page cache off)" if page == "bare view" else "",
            }
        )
    for run, reference, label in (
        ("304", "cached", "× cached 200"),
        ("live desk", "cached", "× quiet cached"),
        ("busy desk", "cached", "× quiet cached"),
        ("varnish", None, ""),
    ):
        for page, figures in big.get(run, {}).items():
            # The quiet rate measured right before the run when there is one, else the sweep's.
            quiet = big.get(reference, {}).get(page) if reference else None
            quiet_rps = figures.get("quiet_rps") or (quiet["rps"] if quiet else None)
            against = ratio(figures["rps"], quiet_rps) if quiet_rps else None
            # The live desk's saves against those its schedule asked for while it ran: under
            # load the desk lane's lower priority can slow the editor instead of the readers.
            kept = ratio(figures.get("desk_saves"), figures.get("desk_due"))
            note = f"{against:.2f}{label}" if against is not None else ""
            if kept is not None:
                note += f"; the desk made {kept:.0%} of its saves"
            rows.append(
                {
                    "page": page,
                    "run": run,
                    "uncached": None,
                    "uncached_x": None,
                    "cached": figures,
                    "cached_x": ratio(figures["rps"], figures.get("bare_rps") or bare),
                    "flat": None,
                    "against": against,
                    "desk_kept": kept,
                    "note": note,
                }
            )
    return rows


def render_table(rows, *, small_label="1k", big_label="100k"):
    """The table as GitHub Markdown (readable in a terminal too)."""
    head = (
        "| page | uncached req/s | p50 ms | p99 ms | × bare | cached req/s | p50 ms | p99 ms "
        f"| × bare | {big_label}/{small_label} p50 alone | note |"
    )
    lines = [head, "|" + "---|" * 11]
    for row in rows:
        u, c = row["uncached"] or {}, row["cached"] or {}
        name = f"{row['page']} ({row['run']})" if row["run"] else row["page"]
        lines.append(
            f"| {name} | {fmt(u.get('rps'))} | {fmt(u.get('p50'), '.1f')} | "
            f"{fmt(u.get('p99'), '.1f')} | {fmt(row['uncached_x'], '.3f')} | {fmt(c.get('rps'))} | "
            f"{fmt(c.get('p50'), '.1f')} | {fmt(c.get('p99'), '.1f')} | "
            f"{fmt(row['cached_x'], '.2f')} | {fmt(row['flat'], '.2f', '×')} | {row['note']} |"
        )
    return "\n".join(lines)


def _check(name, values, test):
    """values: {page: figure or None}; a missing figure fails (it was not measured)."""
    failing = {page: v for page, v in values.items() if v is None or not test(page, v)}
    shown = ", ".join(f"{page} {figure(v)}" for page, v in values.items())
    return {"target": name, "passed": bool(values) and not failing, "values": shown}


def check_targets(rows):
    """Issue 10's targets, each PASS or FAIL (reported, never asserted)."""
    pages = [r for r in rows if not r["run"] and r["page"] != "bare view"]
    extra = {run: [r for r in rows if r["run"] == run] for run in ("304", "live desk", "busy desk")}
    results = [
        _check(
            "article uncached ≥ 0.15× bare",
            {r["page"]: r["uncached_x"] for r in pages if r["page"] == "article"},
            lambda page, v: v >= 0.15,
        ),
        _check(
            "every public page uncached ≥ 0.05× bare",
            {r["page"]: r["uncached_x"] for r in pages},
            lambda page, v: v >= 0.05,
        ),
    ]
    if any(r["flat"] is not None for r in pages):
        results.append(
            _check(
                "uncached p50 (one connection) at the largest size ≤ 1.3× the smallest "
                "(search ≤ 2×)",
                {r["page"]: r["flat"] for r in pages},
                lambda page, v: v <= (2.0 if page == "search" else 1.3),
            )
        )
    results += [
        _check(
            "cached ≥ 1.0× bare",
            {r["page"]: r["cached_x"] for r in pages},
            lambda page, v: v >= 1.0,
        ),
        _check(
            "304 ≥ 1.5× cached 200",
            {r["page"]: r.get("against") for r in extra["304"]},
            lambda page, v: v >= 1.5,
        ),
        _check(
            "live desk ≥ 0.9× quiet cached",
            {r["page"]: r.get("against") for r in extra["live desk"]},
            lambda page, v: v >= 0.9,
        ),
        _check(
            "live desk on schedule: ≥ 0.9 of its saves (1 draft a second, 1 old story every 5 s)",
            {r["page"]: r.get("desk_kept") for r in extra["live desk"]},
            lambda page, v: v >= 0.9,
        ),
        _check(
            "busy desk ≥ 0.5× quiet cached",
            {r["page"]: r.get("against") for r in extra["busy desk"]},
            lambda page, v: v >= 0.5,
        ),
    ]
    varnish = [r for r in rows if r["run"] == "varnish"]
    if varnish:
        results.append(
            _check(
                "front page through Varnish ≥ 10× bare",
                {r["page"]: r["cached_x"] for r in varnish},
                lambda page, v: v >= 10,
            )
        )
    return results


def render_targets(results):
    return "\n".join(
        f"{'PASS' if r['passed'] else 'FAIL'}  {r['target']}: {r['values']}" for r in results
    )


def size_label(size):
    """1000 -> '1k', 100000 -> '100k', 2500 -> '2500'."""
    return f"{size // 1000}k" if size >= 1000 and size % 1000 == 0 else str(size)
