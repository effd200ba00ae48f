"""/docs and /redoc in a real headless browser (Debian's chromium, driven by Playwright):
the pages render from the gateway alone, and no request leaves 127.0.0.1.

Before, both pages loaded Swagger UI and ReDoc from cdn.jsdelivr.net: offline (as here,
where every request off 127.0.0.1 is refused) they stayed blank. The browser is the
system's chromium (executable_path); Playwright never downloads one. A missing chromium
fails the test: .ci/run installs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Route, async_playwright

from tests.gateway_helpers import Gateway

CHROMIUM = "/usr/bin/chromium"
RENDER_TIMEOUT_MS = 30_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            await browser.close()


class Offline:
    """A browser context that refuses (and records) every request off 127.0.0.1."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.left: list[str] = []
        self.served: list[str] = []

    async def route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and (
            urlsplit(url).hostname != "127.0.0.1"
        ):
            self.left.append(url)
            await route.abort()
            return
        self.served.append(url)
        await route.continue_()


@pytest.fixture
async def offline(browser: Browser) -> AsyncIterator[Offline]:
    context = await browser.new_context()
    watch = Offline(context)
    await context.route("**/*", watch.route)
    try:
        yield watch
    finally:
        await context.close()


async def test_swagger_ui_lists_the_operations_from_the_gateway_alone(
    gateway: Gateway, offline: Offline
) -> None:
    page = await offline.context.new_page()
    await page.goto(f"{gateway.url}/docs")
    await page.wait_for_selector(".opblock-summary-path", timeout=RENDER_TIMEOUT_MS)
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/chats" in {p.replace("\u200b", "") for p in paths}
    assert offline.left == []
    assert f"{gateway.url}/docs/assets/swagger-ui-bundle.js" in offline.served


async def test_redoc_shows_the_api_title_from_the_gateway_alone(
    gateway: Gateway, offline: Offline
) -> None:
    page = await offline.context.new_page()
    response = await page.goto(f"{gateway.url}/redoc")
    # ReDoc 2 always loads its sidebar logo from cdn.redoc.ly; the page's policy stops it.
    assert response is not None
    assert "img-src 'self' data:" in response.headers["content-security-policy"]
    title = page.locator("h1", has_text="Chat gateway")
    await title.wait_for(timeout=RENDER_TIMEOUT_MS)
    assert offline.left == []
    assert f"{gateway.url}/docs/assets/redoc.standalone.js" in offline.served
