"""The case report's HTML page (cases/report_output.py): the six categories of the 940 profile, the
chart's bars with the right numbers, Arabic right to left and English; and the terminal table."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cases.report_output import category_labels, render_html, render_text, write_html
from cases.reports import CaseFacts, case_report
from cases.synthetic import ARTICLE_940, generate_cases
from profiles.model import load_profile

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "municipal-940.yaml")
CATEGORIES = [t.id for t in PROFILE.topics]
YEAR_END = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def report():
    facts = [
        CaseFacts(r["category"], r["status"], r["created_at"], r["due_at"], r["closed_at"])
        for r in generate_cases(PROFILE, seed=940)
    ]
    return case_report(facts, now=YEAR_END, categories=CATEGORIES)


class Page(HTMLParser):
    """The bars, the closure rates over them, and the table's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: dict[tuple[str, str], dict[str, str]] = {}
        self.rates: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self.root: dict[str, str] = {}
        self._rate: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.root = a
        elif tag == "rect" and "data-series" in a:
            self.bars[(a["data-category"], a["data-series"])] = a
        elif tag == "text" and a.get("class") == "rate":
            self._rate = a["data-category"]
        elif tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "text":
            self._rate = None

    def handle_data(self, data):
        if self._rate is not None:
            self.rates[self._rate] = self.rates.get(self._rate, "") + data
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def test_the_arabic_page_has_the_six_categories_their_bars_and_numbers(report):
    page = parse(render_html(report, PROFILE, "ar"))
    assert page.root == {"lang": "ar", "dir": "rtl"}
    for category, (count, share) in ARTICLE_940.items():
        opened, closed = page.bars[(category, "opened")], page.bars[(category, "closed")]
        assert int(opened["data-value"]) == count
        assert int(closed["data-value"]) == round(count * share) == report.category(category).closed
        # bars drawn to scale: heights in the ratio of the numbers
        ratio = float(closed["height"]) / float(opened["height"])
        assert ratio == pytest.approx(int(closed["data-value"]) / count, abs=0.01)
        assert page.rates[category] == f"{round(count * share) / count * 100:.1f}%"
    assert len(page.bars) == 12
    body = [row for row in page.rows if row]
    labels = [row[0] for row in body]
    assert labels == [PROFILE.topic(c).label["ar"] for c in CATEGORIES] + ["الإجمالي"]
    by_label = {row[0]: row for row in body}
    clean = by_label["النظافة العامة"]
    assert clean[1:4] == ["4367", "3712", "85.0%"]
    total = by_label["الإجمالي"]
    assert total[1] == "17534" and int(total[2]) > 12_000
    assert total[4] == str(report.total.rejected) and total[6] == str(report.total.overdue)
    assert total[8] == f"{report.total.median_close_seconds / 3600:.1f} ساعة"


def test_in_arabic_the_first_category_is_drawn_on_the_right(report):
    page = parse(render_html(report, PROFILE, "ar"))
    first, last = CATEGORIES[0], CATEGORIES[-1]
    assert float(page.bars[(first, "opened")]["x"]) > float(page.bars[(last, "opened")]["x"])
    english = parse(render_html(report, PROFILE, "en"))
    assert float(english.bars[(first, "opened")]["x"]) < float(english.bars[(last, "opened")]["x"])


def test_the_english_page_names_the_arabic_only_categories_with_their_ids(report, tmp_path):
    path = write_html(report, tmp_path / "cases.html", PROFILE, "en")
    text = path.read_text(encoding="utf-8")
    page = parse(text)
    assert page.root == {"lang": "en", "dir": "ltr"}
    assert "النظافة العامة (cleanliness)" in [row[0] for row in page.rows if row]
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert category_labels(PROFILE, "ar")["parks"] == "صيانة الحدائق والمرافق البلدية"


def test_the_terminal_table_and_a_hostile_category_name(report):
    text = render_text(report, PROFILE, "en")
    assert re.search(r"^total\s+17534\s+13462\s+76\.8%", text, re.M)
    hostile = case_report([CaseFacts('<b x="1">', "open", YEAR_END, YEAR_END)], now=YEAR_END, categories=CATEGORIES)
    html = render_html(hostile, PROFILE, "ar")
    assert '<b x="1">' not in html and "&lt;b x=&quot;1&quot;&gt;" in html
    with pytest.raises(ValueError, match="language"):
        render_html(report, PROFILE, "fr")
