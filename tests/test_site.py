"""The published demo site, opened in headless Chromium (Debian's chromium) through Playwright: the index and
every report page load without console errors, every link and image resolves, and charts are shown."""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from conftest import PROJECT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT / "test-artifacts"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site_url(demo_run):
    """Serve the demo run's site on 127.0.0.1 for the module's tests."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(demo_run.site.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: .ci/run installs it"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def open_page(browser, url):
    """Open `url`; return the page, its HTTP status and the console errors and failed requests it caused."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    response = page.goto(url, wait_until="load")
    return page, response.status, errors


def images_loaded(page) -> list[bool]:
    return page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")


def test_index_and_every_report_page(browser, site_url, demo_run):
    page, status, errors = open_page(browser, site_url)
    assert status == 200
    assert not errors
    links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    reports = [h for h in links if h.endswith("index.html") and h != "index.html"]
    ok_reports = (demo_run.run_dir / "runs.csv").read_text().count(",ok,")
    assert len(set(reports)) == ok_reports
    assert all(not urlparse(h).scheme for h in links), "the index links to another host"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)
    page.close()
    for i, href in enumerate(sorted(set(reports))):
        report, status, errors = open_page(browser, urljoin(site_url, href))
        assert status == 200, (href, errors)
        assert not errors, (href, errors)
        loaded = images_loaded(report)
        assert loaded
        assert all(loaded), f"{href}: a chart is missing or broken"
        targets = report.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        assert site_url in targets, f"{href}: no link back to the index"
        for target in targets:  # previous and next period, region report, PDF
            assert report.request.get(target).status == 200, (href, target)
        text = report.inner_text("body")
        assert "净销售额" in text
        assert "客单价" in text  # the demo runs in Chinese
        if i == 0: report.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        report.close()


def test_pages_need_no_network(demo_run):
    from ecom_insights.publish import external_resources
    pages = list(demo_run.site.parent.rglob("*.html"))
    assert len(pages) > 1
    for page in pages:
        assert not external_resources(page.read_text(encoding="utf-8")), page


def test_every_report_has_a_pdf(demo_run):
    pages = list((demo_run.site.parent / "reports").rglob("index.html"))
    assert pages
    for page in pages:
        pdf = page.parent / "report.pdf"
        assert pdf.read_bytes()[:5] == b"%PDF-", pdf
        assert pdf.stat().st_size > 20_000  # text, fonts and the embedded charts


def test_store_page_links_to_its_region(browser, site_url, demo_run):
    first_store = next(p for p in sorted((demo_run.site.parent / "reports").glob("store-*/*/index.html")))
    page, _, _ = open_page(browser, urljoin(site_url, first_store.relative_to(demo_run.site.parent).as_posix()))
    page.click("text=所属地区报告")
    assert "/reports/region-" in page.url
    assert "地区报告" in page.inner_text("h1")
    page.close()
