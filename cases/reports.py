"""Case reports: per category, how many cases were opened, closed, rejected, how many are overdue,
the closure rate and the median time to close (pure: the standard library only).

Two halves, like the call-record reports (``cdr/reports.py``):

* **Pure reference**: :func:`case_report` counts :class:`CaseFacts` (a ``Case``, a ``CaseRow``,
  anything with the same attribute names) in Python; used on small sets and in the tests.
* **SQL twin** (``cases/report_db.py``): the database counts with one ``GROUP BY`` and picks the
  middle close durations with a window function; both halves hand their figures to
  :func:`build_report`, so the report is the same object whichever computed it.

Counting rules (the same in both halves, and checked against each other in the adapter tests):

* The period is a **cohort**: the cases *opened* in ``[start, end)`` (``created_at``; an open end is
  unbounded). Every other figure is about those cases, as they stand now: that is how the 940 line
  counts ("17,534 reports, more than 12 thousand of them closed").
* *closed*: status ``closed``; *rejected*: status ``rejected``, counted apart (a rejected case is
  not a closed one); *open*: the rest (open, assigned, in progress).
* *closure rate*: closed / opened.
* *closed on time*: closed cases with ``closed_at <= due_at``.
* *median time to close*: over the closed cases, of ``closed_at - created_at``, computed in whole
  microseconds (exact in both databases); with an even count, the mean of the two middle ones.
* *overdue*: open cases whose ``due_at`` is before ``now`` (``cases.model.Case.overdue``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "CLOSED",
    "REJECTED",
    "TOTAL",
    "CaseFacts",
    "CaseReport",
    "CategoryFigures",
    "Counts",
    "build_report",
    "case_report",
    "check_period",
    "duration_microseconds",
    "median_of_middle",
    "middle",
    "report_to_dict",
]

CLOSED = "closed"
REJECTED = "rejected"
#: The category key of the totals row (no topic id is empty).
TOTAL = ""
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What a report needs of one case."""

    category: str
    status: str
    created_at: datetime
    due_at: datetime
    closed_at: datetime | None = None

    @classmethod
    def of(cls, case: Any) -> CaseFacts:
        """From a ``cases.model.Case`` or a ``CaseRow`` (or anything with the same attribute names)."""
        return cls(case.category, case.status, case.created_at, case.due_at, case.closed_at)


@dataclass(slots=True)
class Counts:
    """The additive counters of one category (or of all of them)."""

    opened: int = 0
    closed: int = 0
    rejected: int = 0
    closed_on_time: int = 0
    overdue: int = 0

    def add(self, other: Counts) -> None:
        self.opened += other.opened
        self.closed += other.closed
        self.rejected += other.rejected
        self.closed_on_time += other.closed_on_time
        self.overdue += other.overdue


@dataclass(frozen=True, slots=True)
class CategoryFigures:
    """One row of the report: a category (``TOTAL`` for the totals) and its figures."""

    category: str
    opened: int
    closed: int
    rejected: int
    closed_on_time: int
    overdue: int
    median_close_seconds: float | None  # None: nothing closed

    @property
    def open(self) -> int:
        """Still open now: neither closed nor rejected (open, assigned or in progress)."""
        return self.opened - self.closed - self.rejected

    @property
    def closure_rate(self) -> float | None:
        return self.closed / self.opened if self.opened else None

    @property
    def on_time_rate(self) -> float | None:
        """The share of closed cases closed within the category's SLA."""
        return self.closed_on_time / self.closed if self.closed else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "opened": self.opened,
            "closed": self.closed,
            "rejected": self.rejected,
            "open": self.open,
            "closed_on_time": self.closed_on_time,
            "overdue": self.overdue,
            "closure_rate": self.closure_rate,
            "on_time_rate": self.on_time_rate,
            "median_close_seconds": self.median_close_seconds,
        }


@dataclass(frozen=True, slots=True)
class CaseReport:
    """Figures per category of the cases opened in ``[start, end)``, as they stand at ``now``."""

    start: datetime | None
    end: datetime | None
    now: datetime
    categories: tuple[CategoryFigures, ...]
    total: CategoryFigures

    def category(self, category: str) -> CategoryFigures:
        for row in self.categories:
            if row.category == category:
                return row
        raise KeyError(category)


def duration_microseconds(created_at: datetime, closed_at: datetime) -> int:
    """The time to close, in whole microseconds (exact: what both databases compute too)."""
    return (closed_at - created_at) // _MICROSECOND


def middle(sorted_values: Sequence[int]) -> Sequence[int]:
    """The middle value of a sorted sequence, or the two middle ones when its length is even."""
    n = len(sorted_values)
    return sorted_values[(n - 1) // 2 : n // 2 + 1]


def median_of_middle(values: Iterable[int]) -> float | None:
    """The median in seconds from the one or two middle durations (microseconds); None for none."""
    values = list(values)
    return sum(values) / len(values) / 1_000_000 if values else None


def _in_period(created_at: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or created_at >= start) and (end is None or created_at < end)


def check_period(start: datetime | None, end: datetime | None, now: datetime) -> None:
    for name, moment in (("start", start), ("end", end), ("now", now)):
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"the report's {name} must be an aware datetime, got {moment!r}")
    if start is not None and end is not None and end <= start:
        raise ValueError(f"the report's period is empty: it ends ({end.isoformat()}) at or before its start "
                         f"({start.isoformat()})")  # fmt: skip


def case_report(
    cases: Iterable[Any],
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    categories: Sequence[str] = (),
) -> CaseReport:
    """The pure reference: count ``cases`` (``CaseFacts`` or anything :meth:`CaseFacts.of` reads)."""
    check_period(start, end, now)
    counts: dict[str, Counts] = {}
    durations: dict[str, list[int]] = {}
    for case in cases:
        facts = case if isinstance(case, CaseFacts) else CaseFacts.of(case)
        if not _in_period(facts.created_at, start, end):
            continue
        c = counts.get(facts.category)
        if c is None:
            c = counts[facts.category] = Counts()
        c.opened += 1
        if facts.status == CLOSED:
            c.closed += 1
            closed_at = facts.closed_at if facts.closed_at is not None else facts.created_at
            if closed_at <= facts.due_at:
                c.closed_on_time += 1
            durations.setdefault(facts.category, []).append(duration_microseconds(facts.created_at, closed_at))
        elif facts.status == REJECTED:
            c.rejected += 1
        elif facts.due_at < now:
            c.overdue += 1
    middles: dict[str, Sequence[int]] = {category: middle(sorted(ds)) for category, ds in durations.items()}
    every = sorted(d for ds in durations.values() for d in ds)
    middles[TOTAL] = middle(every)
    return build_report(counts, middles, now=now, start=start, end=end, categories=categories)


def build_report(
    counts: Mapping[str, Counts],
    middles: Mapping[str, Sequence[int]],
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    categories: Sequence[str] = (),
) -> CaseReport:
    """The report from the counters per category and the middle close durations per category
    (``TOTAL``: over every category). ``categories`` gives the order (the profile's topics, shown
    even with no case); a category found in the data but not listed comes after, by name."""
    order = list(dict.fromkeys(categories))
    order += sorted(set(counts) - set(order) - {TOTAL})
    rows = []
    total = Counts()
    for category in order:
        c = counts.get(category, Counts())
        total.add(c)
        rows.append(_figures(category, c, middles.get(category, ())))
    return CaseReport(start, end, now, tuple(rows), _figures(TOTAL, total, middles.get(TOTAL, ())))


def _figures(category: str, c: Counts, middle_values: Sequence[int]) -> CategoryFigures:
    return CategoryFigures(
        category, c.opened, c.closed, c.rejected, c.closed_on_time, c.overdue, median_of_middle(middle_values)
    )


def report_to_dict(report: CaseReport) -> dict[str, Any]:
    """Plain data (JSON-ready)."""
    return {
        "start": report.start.isoformat() if report.start else None,
        "end": report.end.isoformat() if report.end else None,
        "now": report.now.isoformat(),
        "categories": [row.to_dict() for row in report.categories],
        "total": report.total.to_dict(),
    }
