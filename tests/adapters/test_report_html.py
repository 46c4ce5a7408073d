"""The HTML report opens in headless Chromium and shows its charts (inline SVG, nothing fetched).

Needs Debian's ``chromium`` (/usr/bin/chromium) and Playwright for Python; Playwright's own
browser download is never used. Skips, with the reason, when either is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cdr.report_output import write_html
from cdr.reports import RecordFacts, ReportParams, aggregate, build_report
from cdr.synthetic import ROW_COLUMNS, generate_rows
from profiles.model import load_profile

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTS = ("chart-volumes", "chart-service-level", "chart-staffing")


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"Playwright for Python is not installed: {exc}")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return sync_playwright


def _report(interval: int, months: list[str], calls: int):
    profile = load_profile(ROOT / "profiles" / "moh-151.yaml")
    idx = {c: i for i, c in enumerate(ROW_COLUMNS)}
    facts = [
        RecordFacts(
            started_at=r[idx["started_at"]],
            outcome=r[idx["outcome"]],
            queue=r[idx["queue"]],
            language=r[idx["language"]],
            topic=r[idx["topic"]],
            wait_seconds=r[idx["wait_seconds"]],
            talk_seconds=r[idx["talk_seconds"]],
            agent=r[idx["agent"]],
            kind=r[idx["kind"]],
            callback_of=r[idx["callback_of"]],
            transferred_to=r[idx["transferred_to"]],
            wrapup_seconds=r[idx["wrapup_seconds"]],
        )
        for r in generate_rows(calls, months=months, seed=5)
    ]
    agg = aggregate(facts, interval, 20.0)
    params = ReportParams(interval, 20.0, 0.8, 0.3, None, profile.timezone)
    return build_report(agg, params, shifts=profile.shifts)


@pytest.mark.parametrize(
    ("interval", "months", "calls", "screenshot"),
    [
        (60, ["2021-03"], 6000, "report.png"),  # 744 intervals: charts drawn per day
        (30, ["2021-02"], 1500, None),  # fewer than... per day again; keeps the drawing code honest
    ],
)
def test_html_report_charts_render_in_headless_chromium(
    tmp_path: Path, interval: int, months: list[str], calls: int, screenshot: str | None
) -> None:
    sync_playwright = _sync_playwright()
    page_path = write_html(_report(interval, months, calls), tmp_path / "report.html")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_path.as_uri())
            assert page.title() == "Hotline call report"
            for chart in CHARTS:
                svg = page.locator(f"svg#{chart}")
                assert svg.count() == 1
                box = svg.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 100, chart
                lines = page.locator(f"svg#{chart} polyline.series")
                assert lines.count() >= 2, chart
                line_box = lines.first.bounding_box()
                assert line_box is not None and line_box["width"] > 0, chart
                assert svg.is_visible()
            if screenshot:
                out = ROOT / "artifacts" / screenshot
                out.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
                assert out.stat().st_size > 10_000
        finally:
            browser.close()
    assert [url for url in requests if not url.startswith("file://")] == []  # nothing fetched
