"""Debian's chromium, headless through Playwright, with the network cut: how the tests look at a page.

A test that opens a page takes :func:`offline_page`: it is skipped, with
what to install, where the machine has no chromium or the test group has
no Playwright, and gets the page and the list of every console error and
uncaught exception the page raised, which it asserts empty.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

INSTALL = "apt-get install -y chromium (Debian) or set CHROMIUM to a Chromium binary"


def chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Any) -> Any:
    """The chromium found, launched headless (skips the test where there is none)."""
    binary = chromium()
    if binary is None:
        pytest.skip(f"no chromium to open the page with: {INSTALL}")
    return playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])


def sync_api() -> Any:
    return pytest.importorskip("playwright.sync_api", reason="the test group installs playwright")


@contextmanager
def offline_page(width: int = 1300, height: int = 900) -> Iterator[tuple[Any, list[str]]]:
    """A page of a browser with no network, and the errors it reports as they come."""
    if chromium() is None:
        pytest.skip(f"no chromium to open the page with: {INSTALL}")
    errors: list[str] = []
    with sync_api().sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(offline=True, viewport={"width": width, "height": height})
            shown = context.new_page()
            shown.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            shown.on("pageerror", lambda e: errors.append(str(e)))
            yield shown, errors
        finally:
            browser.close()
