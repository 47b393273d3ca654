"""Headless Chromium (the system's, Debian's ``chromium``) driven by Playwright, for tests
that use the console as a person would. Screenshots go to ``build/screenshots`` (or
``$ARTERY_SCREENSHOTS``) for a reviewer to look at; the README's come from this run."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Page, async_playwright, expect

from support import service_missing

SHOTS = Path(os.environ.get("ARTERY_SCREENSHOTS", "build/screenshots"))


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        service_missing(
            "chromium", "no chromium on PATH; .ci/run installs it (apt-get install chromium)"
        )
        raise AssertionError("unreachable")
    return found


@contextlib.asynccontextmanager
async def browsing(base_url: str) -> AsyncIterator[Page]:
    """A fresh browser page (its own cookies) against ``base_url``."""
    executable = chromium()
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
        browser = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"]
        )
        try:
            context = await browser.new_context(
                base_url=base_url, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(10_000)
            yield await context.new_page()
        finally:
            await browser.close()


async def shot(page: Page, name: str) -> Path:
    """A full-page screenshot named ``name``.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def sign_in(page: Page, key: str, start: str = "/console/catalog") -> None:
    """Sign in with the keyboard alone: the key field has focus, Enter submits."""
    await page.goto(start)
    assert "/console/sign-in" in page.url
    await expect(page.get_by_label("API key")).to_be_focused()
    await page.keyboard.type(key)
    await page.keyboard.press("Enter")
    await page.wait_for_url(lambda url: "/sign-in" not in url)
    assert page.url.endswith(start), page.url
