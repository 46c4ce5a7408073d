"""Report output: terminal tables, CSV files, a self-contained HTML page with inline SVG charts,
and a stderr progress bar.

The HTML has no script and fetches nothing: CSS and the SVG charts (volumes, service level,
people needed against present) are inline, so the file can be mailed or opened offline. Charts
with more than :data:`MAX_CHART_POINTS` intervals are drawn per day (counts summed, service level
recomputed from the sums, people needed/present as the day's peak).
"""

from __future__ import annotations

import csv
import html
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from cdr.reports import IntervalRow, Measures, Report

__all__ = [
    "MAX_CHART_POINTS",
    "Progress",
    "render_html",
    "render_text",
    "write_csv",
    "write_html",
]

MAX_CHART_POINTS = 400


class Progress:
    """A one-line progress bar on stderr, drawn only on a terminal (or when ``force``)."""

    def __init__(self, label: str, stream: IO[str] | None = None, force: bool = False, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label
        self.width = width
        self._last = 0.0
        self._started = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if total:
            share = min(1.0, done / total)
            filled = int(share * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            text = f"\r{self.label} [{bar}] {share:6.1%} {done:,}/{total:,} {now - self._started:5.1f}s"
        else:
            text = f"\r{self.label} {done:,} {now - self._started:5.1f}s"
        self.stream.write(text)
        if final:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# -- formatting ---------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _sec(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(v.rjust(widths[i]) if i else v.ljust(widths[i]) for i, v in enumerate(row)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


_MEASURE_HEADERS = (
    "offered",
    "answered",
    "abd IVR",
    "abd queue",
    "failed",
    "self-served",
    "SL",
    "SL2",
    "ASA",
    "AHT",
    "max wait",
    "transf",
    "callbacks",
    "reached",
)


def _measure_cells(m: Measures) -> list[Any]:
    return [
        m.offered,
        m.answered,
        m.abandoned_ivr,
        m.abandoned_queue,
        m.failed,
        m.self_served,
        _pct(m.service_level),
        _pct(m.service_level2),
        _sec(m.asa),
        _sec(m.aht),
        _sec(m.max_wait),
        m.transferred,
        m.callbacks,
        m.callbacks_answered,
    ]


_PEOPLE_HEADERS = ("person / place", "kind", "calls", "answered first", "by transfer", "talk", "mean talk")


def _people_cells(report: Report) -> list[list[Any]]:
    return [
        [row.target, row.kind, row.measures.calls, row.measures.first_answers, row.measures.transfers_in,
         _sec(row.measures.talk_sum), _sec(row.measures.mean_talk)]
        for row in report.people
    ]  # fmt: skip


def render_text(report: Report, max_intervals: int = 96) -> str:
    """Tables for the terminal: totals, per queue, per shift, understaffed intervals (and the
    intervals themselves when there are at most ``max_intervals``)."""
    p = report.params
    tz = ZoneInfo(p.timezone)
    out: list[str] = []
    span = (
        f"{_when(report.intervals[0].start, tz)} to {_when(report.intervals[-1].start, tz)}"
        if report.intervals
        else "no calls"
    )
    model = f"Erlang A, patience {p.patience_seconds:.0f}s" if p.patience_seconds is not None else "Erlang C"
    out.append(
        f"Call report {span} ({p.timezone}), {p.interval_minutes}-minute intervals, "
        f"service level within {p.sl_seconds:.0f}s; staffing target {p.target_service_level:.0%} "
        f"({model}), shrinkage {p.shrinkage:.0%}"
    )
    out.append("")
    out.append(_table(("", *_MEASURE_HEADERS), [["total", *_measure_cells(report.totals)]]))
    out.append("")
    out.append("By queue")
    out.append(
        _table(
            ("queue", "lang", "topic", *_MEASURE_HEADERS),
            [[q or "(IVR)", lang, topic, *_measure_cells(m)] for (q, lang, topic), m in report.by_queue],
        )
    )
    if report.shifts:
        out.append("")
        out.append("Seats per shift (peak people needed, after shrinkage)")
        out.append(
            _table(
                ("shift", "intervals", "peak needed", "mean needed", "seats", "understaffed"),
                [
                    [
                        s.shift,
                        s.intervals,
                        s.peak_needed,
                        f"{s.mean_needed:.1f}",
                        s.seats_needed,
                        s.understaffed_intervals,
                    ]
                    for s in report.shifts
                ],
            )
        )
    if report.people:
        out.append("")
        out.append("By person (each call once; their own talk: a transferred call's talk is split)")
        out.append(_table(_PEOPLE_HEADERS, _people_cells(report)))
    short = report.understaffed
    out.append("")
    out.append(f"Understaffed intervals: {len(short)} of {len(report.intervals)}")
    if short:
        worst = sorted(short, key=lambda r: (r.gap or 0, r.start))[:20]
        out.append(
            _table(
                ("interval", "offered", "needed", "present", "gap"),
                [[_when(r.start, tz), r.measures.offered, r.needed, r.present, r.gap] for r in worst],
            )
        )
        if len(short) > len(worst):
            out.append(f"(the {len(worst)} largest gaps shown; all are in the CSV / HTML / JSON output)")
    if report.intervals and len(report.intervals) <= max_intervals:
        out.append("")
        out.append("Intervals")
        out.append(
            _table(
                ("interval", "offered", "answered", "abd", "SL", "ASA", "AHT", "occupancy", "needed", "present"),
                [
                    [
                        _when(r.start, tz),
                        r.measures.offered,
                        r.measures.answered,
                        r.measures.abandoned,
                        _pct(r.measures.service_level),
                        _sec(r.measures.asa),
                        _sec(r.measures.aht),
                        _pct(r.occupancy),
                        r.needed,
                        r.present,
                    ]
                    for r in report.intervals
                ],
            )
        )
    return "\n".join(out) + "\n"


# -- CSV ----------------------------------------------------------------------------------------

_CSV_MEASURES = (
    "offered",
    "answered",
    "abandoned_ivr",
    "abandoned_queue",
    "failed",
    "self_served",
    "answered_within",
    "abandoned_within",
    "service_level",
    "service_level2",
    "asa",
    "aht",
    "max_wait",
    "transferred",
    "callbacks",
    "callbacks_answered",
)


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else value


def write_csv(report: Report, path: Path) -> tuple[Path, Path]:
    """Intervals (with staffing) to ``path``; per queue/language/topic rows to ``<stem>-groups.csv``."""
    path = Path(path)
    groups_path = path.with_name(f"{path.stem}-groups{path.suffix or '.csv'}")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["interval_start", *_CSV_MEASURES, "occupancy", "traffic_erlangs", "needed", "present", "gap"])
        for r in report.intervals:
            m = r.measures.to_dict()
            w.writerow(
                [
                    r.start.isoformat(),
                    *(_csv_value(m[k]) for k in _CSV_MEASURES),
                    _csv_value(r.occupancy),
                    _csv_value(r.traffic),
                    _csv_value(r.needed),
                    _csv_value(r.present),
                    _csv_value(r.gap),
                ]
            )
    with open(groups_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["interval_start", "queue", "language", "topic", *_CSV_MEASURES, "agents"])
        for (bucket, queue, language, topic), measures in report.groups:
            d = measures.to_dict()
            start = datetime.fromtimestamp(bucket, tz=ZoneInfo("UTC")).isoformat()
            w.writerow(
                [
                    start,
                    queue or "",
                    language or "",
                    topic or "",
                    *(_csv_value(d[k]) for k in _CSV_MEASURES),
                    measures.agents,
                ]
            )
    return path, groups_path


# -- HTML ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Point:
    label: str
    offered: int
    answered: int
    abandoned: int
    sl: float | None
    sl2: float | None
    needed: int | None
    present: int | None


def _chart_points(intervals: Sequence[IntervalRow], tz: ZoneInfo) -> tuple[list[_Point], str]:
    if len(intervals) <= MAX_CHART_POINTS:
        return [
            _Point(
                _when(r.start, tz),
                r.measures.offered,
                r.measures.answered,
                r.measures.abandoned,
                r.measures.service_level,
                r.measures.service_level2,
                r.needed,
                r.present,
            )
            for r in intervals
        ], "interval"
    days: dict[str, list[IntervalRow]] = {}
    for r in intervals:
        days.setdefault(r.start.astimezone(tz).strftime("%Y-%m-%d"), []).append(r)
    points = []
    for day, rows in days.items():
        m = Measures()
        for r in rows:
            m.add(r.measures)
        needed = [r.needed for r in rows if r.needed is not None]
        present = [r.present for r in rows if r.present is not None]
        points.append(
            _Point(
                day,
                m.offered,
                m.answered,
                m.abandoned,
                m.service_level,
                m.service_level2,
                max(needed) if needed else None,
                max(present) if present else None,
            )
        )
    return points, "day"


_W, _H, _L, _R, _T, _B = 960, 300, 56, 16, 34, 46


def _nice_top(value: float) -> float:
    """The smallest 1/2/2.5/5 × 10^k at or above ``value`` that splits into 4 round ticks."""
    if value <= 0:
        return 4.0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 4, 5, 8, 10):
        if factor * magnitude >= value and (factor * magnitude / 4) >= 1:
            return factor * magnitude
    return 10 * magnitude if magnitude >= 1 else 4.0


def _svg_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    y_max: float | None = None,
    percent: bool = False,
    target: float | None = None,
) -> str:
    values = [v for _, _, vs in series for v in vs if v is not None]
    top = y_max if y_max is not None else _nice_top(max(values, default=0))
    n = max(1, len(labels))
    plot_w, plot_h = _W - _L - _R, _H - _T - _B

    def x(i: int) -> float:
        return _L + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return _T + plot_h * (1 - min(v, top) / top)

    parts = [
        f'<svg id="{chart_id}" class="chart" xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="{_L}" y="20" class="ct">{html.escape(title)}</text>',
    ]
    for k in range(5):
        v = top * k / 4
        yy = y(v)
        text = f"{v * 100:.0f}%" if percent else f"{v:,.4g}"
        parts.append(f'<line x1="{_L}" y1="{yy:.1f}" x2="{_W - _R}" y2="{yy:.1f}" class="grid"/>')
        parts.append(f'<text x="{_L - 6}" y="{yy + 4:.1f}" class="yl">{text}</text>')
    step = max(1, n // 8)
    for i in range(0, len(labels), step):
        parts.append(f'<text x="{x(i):.1f}" y="{_H - _B + 16}" class="xl">{html.escape(labels[i])}</text>')
    if target is not None:
        parts.append(f'<line x1="{_L}" y1="{y(target):.1f}" x2="{_W - _R}" y2="{y(target):.1f}" class="target"/>')
    for k, (name, color, vs) in enumerate(series):
        segments: list[list[str]] = [[]]
        for i, value in enumerate(vs):
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append(f"{x(i):.1f},{y(value):.1f}")
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            elif seg:
                parts.append(
                    f'<polyline class="series" data-series="{html.escape(name)}" fill="none" stroke="{color}" '
                    f'stroke-width="1.8" points="{" ".join(seg)}"/>'
                )
        lx = _L + 10 + k * 150
        parts.append(f'<rect x="{lx}" y="{_H - 18}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{lx + 16}" y="{_H - 8}" class="lg">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans Arabic",sans-serif;margin:24px;color:#1d2733}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
th,td{border-bottom:1px solid #dde3ea;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f2f5f8}
.chart{display:block;margin:8px 0;background:#fff;border:1px solid #e3e8ee}
.chart .ct{font-size:14px;font-weight:600;fill:#1d2733}.chart .grid{stroke:#e9edf1}
.chart .yl{font-size:11px;text-anchor:end;fill:#5b6773}.chart .xl{font-size:11px;text-anchor:middle;fill:#5b6773}
.chart .lg{font-size:12px;fill:#1d2733}.chart .target{stroke:#c0392b;stroke-dasharray:6 4}
.note{color:#5b6773;font-size:.9em}
"""


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('-' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report, title: str = "Hotline call report") -> str:
    p = report.params
    tz = ZoneInfo(p.timezone)
    points, unit = _chart_points(report.intervals, tz)
    labels = [pt.label for pt in points]
    volumes = _svg_chart(
        "chart-volumes",
        f"Calls per {unit}",
        labels,
        [
            ("offered", "#2c7fb8", [pt.offered for pt in points]),
            ("answered", "#31a354", [pt.answered for pt in points]),
            ("abandoned", "#de2d26", [pt.abandoned for pt in points]),
        ],
    )
    service = _svg_chart(
        "chart-service-level",
        f"Service level per {unit} (answered within {p.sl_seconds:.0f}s; dashed: target)",
        labels,
        [("SL", "#31a354", [pt.sl for pt in points]), ("SL2", "#756bb1", [pt.sl2 for pt in points])],
        y_max=1.0,
        percent=True,
        target=p.target_service_level,
    )
    staffing = _svg_chart(
        "chart-staffing",
        f"People needed against present per {unit}" + (" (day's peak)" if unit == "day" else ""),
        labels,
        [("needed", "#e6550d", [pt.needed for pt in points]), ("present", "#3182bd", [pt.present for pt in points])],
    )
    span = (
        f"{_when(report.intervals[0].start, tz)} – {_when(report.intervals[-1].start, tz)}"
        if report.intervals
        else "no calls"
    )
    model = f"Erlang A (patience {p.patience_seconds:.0f}s)" if p.patience_seconds is not None else "Erlang C"
    by_queue = _html_table(
        ("queue", "language", "topic", *_MEASURE_HEADERS),
        [[q or "(IVR)", lang, topic, *_measure_cells(m)] for (q, lang, topic), m in report.by_queue],
    )
    shifts = _html_table(
        ("shift", "intervals", "peak needed", "mean needed", "seats after shrinkage", "understaffed intervals"),
        [
            [s.shift, s.intervals, s.peak_needed, f"{s.mean_needed:.1f}", s.seats_needed, s.understaffed_intervals]
            for s in report.shifts
        ],
    )
    short = sorted(report.understaffed, key=lambda r: (r.gap or 0, r.start))
    understaffed = _html_table(
        ("interval", "offered", "needed", "present", "gap"),
        [[_when(r.start, tz), r.measures.offered, r.needed, r.present, r.gap] for r in short[:100]],
    )
    coded = sum(w.calls for w in report.wrapups if w.code is not None)
    wrapups = _html_table(
        ("request type (topic)", "wrap-up code", "calls"),
        [[w.topic or "(none)", w.code or "(no code)", w.calls] for w in report.wrapups],
    )
    people = _html_table(_PEOPLE_HEADERS, _people_cells(report))
    t = report.totals
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(span)} ({html.escape(p.timezone)}) · {p.interval_minutes}-minute intervals ·
service level within {p.sl_seconds:.0f}s · staffing: {p.target_service_level:.0%} target, {html.escape(model)},
shrinkage {p.shrinkage:.0%}</p>
{_html_table(("", *_MEASURE_HEADERS), [["total", *_measure_cells(t)]])}
<h2>Volumes</h2>
{volumes}
<h2>Service level</h2>
{service}
<h2>Staffing</h2>
{staffing}
<h2>By queue</h2>
{by_queue}
<h2>Seats per shift</h2>
{shifts}
<h2>Understaffed intervals ({len(short)} of {len(report.intervals)})</h2>
{understaffed}
<h2 id="wrapups">Calls per request type</h2>
<p class="note">Answered calls by topic and the wrap-up code the agent chose ({coded} of
{sum(w.calls for w in report.wrapups)} with a code).</p>
{wrapups}
<h2 id="people">By person</h2>
<p class="note">Each call once per person or place it reached; a transferred call counts where it was first
answered, and each one's talk is their own part of it.</p>
{people}
<p class="note">{"The 100 largest gaps are listed. " if len(short) > 100 else ""}Generated by hotline; no scripts,
nothing fetched.</p>
</body></html>
"""


def write_html(report: Report, path: Path, title: str = "Hotline call report") -> Path:
    path = Path(path)
    path.write_text(render_html(report, title), encoding="utf-8")
    return path
