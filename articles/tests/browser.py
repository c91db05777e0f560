"""Shared Playwright setup: Debian's chromium, headless, as the machine allows."""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("NEWSDESK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
AXE = (
    Path(__file__).resolve().parents[2] / "var" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
)


@pytest.fixture(scope="module")
def chromium():
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
    # itself are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def close_settled(context):
    """Close a browser context after its pages have left for a blank page, so anything they send
    on leaving (the change form's autosave beacon) reaches the server while the test's database
    is still there, not during its teardown."""
    for page in context.pages:
        page.goto("about:blank")
    if context.pages:
        context.pages[0].wait_for_timeout(300)
    context.close()


def wait_until_autosaved(page):
    """Until the change form's status line says the server has the text ("Saved 14:32"; a
    refusal, "Not autosaved: …", also contains "saved", so the start is matched)."""
    page.wait_for_function(
        "() => /^Saved /.test(document.getElementById('autosave-status').textContent)"
    )


def load_axe(page):
    """axe-core into the page. The Content-Security-Policy refuses an inline <script> (what
    `page.add_script_tag` makes), so the source is evaluated through DevTools instead, as
    Playwright's own `evaluate` is; the page's policy stays on for everything else."""
    page.evaluate("source => { (0, eval)(source); return typeof axe; }", AXE.read_text())
