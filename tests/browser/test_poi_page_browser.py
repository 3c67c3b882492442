"""The public POI page in a real browser (Debian's chromium driven by Playwright) against a live
gateway on 127.0.0.1: it renders at a phone's size, shows the products and prices, and the browser
reports no console error, no failed request and no CSP violation. A screenshot is kept as an
artifact under ``tests/artifacts/`` (gitignored) and its path printed.

Playwright's own browser builds are never downloaded: the system chromium is used. Without it the
test is skipped with the reason, except in CI (``CI`` set), where a missing browser is a failure:
CI must not pass by skipping this.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.poi.models import PoiPageView
from tests.poi.showcase import hotpot_with_menu

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PHONE = {"width": 390, "height": 844}  # iPhone 12–15 class


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser test; .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = os.environ.get("SHIJING_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        _unavailable("no chromium on this machine (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    # root (CI, containers) cannot use chromium's sandbox; elsewhere keep it
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=args)
        yield instance
        instance.close()


class Watch:
    """Everything the browser would show a developer in its console and network panel."""

    def __init__(self, page) -> None:
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.failed: list[str] = []
        self.bad_status: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning") and self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: r.status >= 400 and self.bad_status.append(f"{r.status} {r.url}"))

    def assert_clean(self) -> None:
        assert self.console == [], self.console
        assert self.page_errors == [], self.page_errors
        assert self.failed == [], self.failed
        assert self.bad_status == [], self.bad_status


@pytest.fixture
def showcase(app, db_session, factory, live_server):
    merchant = factory.merchant()
    poi, _ = hotpot_with_menu(db_session, merchant.id, now=datetime.now(timezone.utc))
    # a photo from the gateway itself: the browser test reaches nothing but 127.0.0.1
    poi.images = [f"{live_server.url}/assets/poi-icon.png"]
    db_session.commit()
    return poi.id


def test_poi_page_on_a_phone(app, browser, live_server, showcase):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    watch = Watch(page)
    response = page.goto(f"{live_server.url}/p/{showcase}?source=video&source_id=vid_browser1",
                         wait_until="networkidle")
    assert response.status == 200

    assert page.title() == "蜀香火锅（春熙路店） · 市井"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1.poi-name").inner_text() == "蜀香火锅（春熙路店）"
    titles = page.locator(".product-title").all_inner_texts()
    assert titles == ["双人套餐", "单人套餐", "100元代金券", "包间预订"]
    for locator in (page.locator(".product").first, page.locator(".map-link"), page.locator(".badge-sold-out")):
        assert locator.is_visible()
    assert page.locator(".price-now").all_inner_texts() == ["¥88.00", "¥68.00", "¥89.00", "免费"]
    # the original price is struck through (<del>), as rendered, not just in the markup
    assert page.locator(".price-was").first.evaluate("e => getComputedStyle(e).textDecorationLine") == "line-through"
    assert page.locator(".phone-link").get_attribute("href") == "tel:028-88886666"
    assert page.locator(".map-link").get_attribute("href").startswith("https://uri.amap.com/marker?")
    assert page.locator(".poi-cover").evaluate("img => img.complete && img.naturalWidth > 0")

    # fits the phone: nothing wider than the screen, text large enough to read without zooming
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert float(page.locator(".hours-line").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 14
    # the stylesheet applied (not a page of unstyled HTML)
    assert page.locator(".price-now").first.evaluate("e => getComputedStyle(e).fontWeight") == "700"

    data = json.loads(page.locator('script[type="application/ld+json"]').text_content())
    assert "LocalBusiness" in data["@type"] and data["name"] == "蜀香火锅（春熙路店）"
    assert [offer["price"] for offer in data["makesOffer"]] == ["88.00", "68.00", "89.00", "0.00"]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "poi_page_390x844.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000

    watch.assert_clean()
    assert all(url.startswith(live_server.url) for url in watch.requests), watch.requests
    context.close()

    with app.app_context(), app.extensions["shijing.db"].new_session() as s:
        views = s.execute(select(PoiPageView.source, PoiPageView.source_id).where(
            PoiPageView.poi_id == showcase)).all()
    assert [tuple(v) for v in views] == [("video", "vid_browser1")]


def test_poi_page_on_a_desktop(browser, live_server, showcase):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    watch = Watch(page)
    assert page.goto(f"{live_server.url}/p/{showcase}", wait_until="networkidle").status == 200
    assert page.locator(".product").count() == 4
    box = page.locator("main.poi").bounding_box()
    assert box["width"] <= 640, "a readable column, not stretched across the screen"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "poi_page_1280.png"), full_page=True)
    watch.assert_clean()
    context.close()


def test_not_public_page_is_a_friendly_404(browser, live_server, app):
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    response = page.goto(f"{live_server.url}/p/poi_doesnotexist", wait_until="networkidle")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "这家店暂时无法访问"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()
