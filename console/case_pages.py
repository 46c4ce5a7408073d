"""The console's case pages (issue 11, item 5): follow-up work on cases, for supervisors (viewers read).

* ``GET /cases``: the case list, filtered by category, department, status and overdue, a page at a time;
* ``GET /cases/overdue``: the cases past their SLA due time, the latest first;
* ``GET /cases/{number}``: one case with all its fields, its linked calls and its history;
* ``POST /cases/{number}/status`` and ``POST /cases/{number}/department``: plain HTML forms that change the
  status (with a reason and a note; closing and rejecting need a reason) or assign a department. Each form
  carries the case's ``version``: when someone else changed the case meanwhile, the service refuses with
  :class:`~cases.model.StaleCase` and the page answers 409 with the current state, never a silent overwrite.
  Each change is written to the console's audit log (``case.status``, ``case.department``).

The pages go through :class:`cases.service.CaseService` (``Backend.cases``); when the profile keeps no cases
that is ``None``, the pages answer 404 saying so and the header has no link to them. Sign-in, CSRF (the
``csrf_token`` form field) and roles are the console's own, applied by ``console.base.guard``.
The pages' labels are in :data:`LABELS` (Arabic and English), beside the console's shared catalogue.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from cases.model import (
    DONE_STATUSES,
    MAX_NOTE,
    MAX_REASON,
    TRANSITIONS,
    Case,
    CaseError,
    CaseNotFound,
    HistoryEntry,
    StaleCase,
    valid_number,
)
from cases.service import MAX_LIST, CaseService
from cdr.db import RecordStore
from console.base import backend_of, guard, render, user_of
from profiles.model import CASE_STATUSES, Profile
from restapi.http import ACTOR
from telephony.clock import utc_now

PAGE_SIZE = 50
MAX_PAGE = 10_000
#: The overdue list sorts by lateness across pages: it reads at most this many overdue cases (the latest first).
MAX_OVERDUE = 10 * MAX_LIST
#: Who may open the pages: supervisors change, viewers look.
ROLES = frozenset({"supervisor", "viewer"})

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "nav.cases": "Cases",
        "cases.title": "Cases",
        "cases.overdue_title": "Overdue cases",
        "cases.overdue_link": "Overdue cases, the latest first",
        "cases.all_link": "All cases",
        "cases.number": "Number",
        "cases.category": "Category",
        "cases.district": "District",
        "cases.department": "Department",
        "cases.status": "Status",
        "cases.due": "Due",
        "cases.overdue": "overdue",
        "cases.overdue_head": "Overdue",
        "cases.late_by": "Late by",
        "cases.any": "any",
        "cases.only_overdue": "Only overdue",
        "cases.filter": "Filter",
        "cases.none": "No cases.",
        "cases.prev": "Previous",
        "cases.next": "Next",
        "cases.page": "Page",
        "cases.nobody": "none yet",
        "status.open": "open",
        "status.assigned": "assigned",
        "status.in_progress": "in progress",
        "status.closed": "closed",
        "status.rejected": "rejected",
        "case.title": "Case",
        "case.caller": "Caller's number",
        "case.language": "Language",
        "case.description": "Description",
        "case.location": "Location",
        "case.reason": "Reason",
        "case.source": "Source",
        "case.created_by": "Opened by",
        "case.created_at": "Opened",
        "case.updated_at": "Last change",
        "case.closed_at": "Closed",
        "case.voice_note": "Voice note",
        "case.seconds": "s",
        "case.version": "Version",
        "case.calls": "Linked calls",
        "case.no_calls": "No linked calls.",
        "case.history": "History",
        "case.no_history": "No history.",
        "call.id": "Call",
        "call.started": "Started",
        "call.topic": "Topic",
        "call.queue": "Queue",
        "call.agent": "Answered by",
        "call.outcome": "Outcome",
        "call.talk": "Talk (s)",
        "call.unknown": "no call record (yet)",
        "hist.at": "When",
        "hist.actor": "Who",
        "hist.action": "What",
        "hist.change": "Change",
        "hist.note": "Note",
        "action.created": "opened",
        "action.status": "status",
        "action.department": "department",
        "action.call": "call linked",
        "action.note": "note",
        "form.change_status": "Change the status",
        "form.new_status": "New status",
        "form.reason": "Reason",
        "form.reason_hint": "needed to close or reject",
        "form.note": "Note",
        "form.save": "Save",
        "form.assign": "Assign to a department",
        "form.assign_to": "Department",
        "msg.saved": "Saved.",
        "msg.stale": "Someone else changed this case meanwhile (it is now at version {version}). "
        "Your change was NOT saved: below is the current state. Make the change again if it still applies.",
        "msg.your_change": "Your change was",
        "msg.refused": "Not saved:",
        "msg.no_cases": "This hotline keeps no cases: its profile has no cases section.",
        "msg.not_found": "There is no case with the number {number}.",
        "msg.not_allowed": "The case pages are for supervisors and viewers.",
        "err.filter": "Unknown filter: {field} {value}.",
        "err.page": "The page must be a whole number from 1 to 10000.",
        "err.version": "The form has no valid version: reload the case and try again.",
        "err.status": "Choose a status from the list.",
        "err.reason_needed": "Closing or rejecting a case needs a reason.",
        "err.reason_long": "The reason is too long (at most {max} characters).",
        "err.note_long": "The note is too long (at most {max} characters).",
        "err.department": "Unknown department: {value}. Choose one from the list.",
        "unit.d": "d",
        "unit.h": "h",
        "unit.min": "min",
    },
    "ar": {
        "nav.cases": "البلاغات",
        "cases.title": "البلاغات",
        "cases.overdue_title": "البلاغات المتأخرة",
        "cases.overdue_link": "البلاغات المتأخرة، الأكثر تأخراً أولاً",
        "cases.all_link": "كل البلاغات",
        "cases.number": "الرقم",
        "cases.category": "الفئة",
        "cases.district": "الحي",
        "cases.department": "الإدارة",
        "cases.status": "الحالة",
        "cases.due": "موعد الإنجاز",
        "cases.overdue": "متأخر",
        "cases.overdue_head": "التأخر",
        "cases.late_by": "التأخر",
        "cases.any": "الكل",
        "cases.only_overdue": "المتأخرة فقط",
        "cases.filter": "تصفية",
        "cases.none": "لا توجد بلاغات.",
        "cases.prev": "السابق",
        "cases.next": "التالي",
        "cases.page": "صفحة",
        "cases.nobody": "لم تُحدد بعد",
        "status.open": "مفتوح",
        "status.assigned": "محال",
        "status.in_progress": "قيد المعالجة",
        "status.closed": "مغلق",
        "status.rejected": "مرفوض",
        "case.title": "بلاغ",
        "case.caller": "رقم المتصل",
        "case.language": "اللغة",
        "case.description": "الوصف",
        "case.location": "الموقع",
        "case.reason": "السبب",
        "case.source": "المصدر",
        "case.created_by": "سجّله",
        "case.created_at": "تاريخ التسجيل",
        "case.updated_at": "آخر تغيير",
        "case.closed_at": "تاريخ الإغلاق",
        "case.voice_note": "التسجيل الصوتي",
        "case.seconds": "ث",
        "case.version": "النسخة",
        "case.calls": "المكالمات المرتبطة",
        "case.no_calls": "لا توجد مكالمات مرتبطة.",
        "case.history": "السجل",
        "case.no_history": "لا يوجد سجل.",
        "call.id": "المكالمة",
        "call.started": "البداية",
        "call.topic": "الموضوع",
        "call.queue": "الطابور",
        "call.agent": "أجاب عليها",
        "call.outcome": "النتيجة",
        "call.talk": "المحادثة (ث)",
        "call.unknown": "لا يوجد سجل للمكالمة (بعد)",
        "hist.at": "الوقت",
        "hist.actor": "من",
        "hist.action": "الإجراء",
        "hist.change": "التغيير",
        "hist.note": "الملاحظة",
        "action.created": "تسجيل",
        "action.status": "الحالة",
        "action.department": "الإدارة",
        "action.call": "ربط مكالمة",
        "action.note": "ملاحظة",
        "form.change_status": "تغيير الحالة",
        "form.new_status": "الحالة الجديدة",
        "form.reason": "السبب",
        "form.reason_hint": "مطلوب عند الإغلاق أو الرفض",
        "form.note": "ملاحظة",
        "form.save": "حفظ",
        "form.assign": "الإحالة إلى إدارة",
        "form.assign_to": "الإدارة",
        "msg.saved": "تم الحفظ.",
        "msg.stale": "غيّر شخص آخر هذا البلاغ في الأثناء (نسخته الآن {version}). "
        "لم يُحفظ تغييرك: أدناه حالته الحالية. أعد التغيير إن كان لا يزال لازماً.",
        "msg.your_change": "كان تغييرك",
        "msg.refused": "لم يُحفظ:",
        "msg.no_cases": "هذا الخط لا يسجل بلاغات: ملفه لا يحتوي على قسم البلاغات.",
        "msg.not_found": "لا يوجد بلاغ بالرقم {number}.",
        "msg.not_allowed": "صفحات البلاغات للمشرفين والمشاهدين.",
        "err.filter": "تصفية غير معروفة: {field} {value}.",
        "err.page": "رقم الصفحة عدد صحيح من 1 إلى 10000.",
        "err.version": "النموذج بلا نسخة صحيحة: أعد تحميل البلاغ وحاول مرة أخرى.",
        "err.status": "اختر حالة من القائمة.",
        "err.reason_needed": "إغلاق البلاغ أو رفضه يحتاج إلى سبب.",
        "err.reason_long": "السبب طويل جداً (الحد {max} حرفاً).",
        "err.note_long": "الملاحظة طويلة جداً (الحد {max} حرفاً).",
        "err.department": "إدارة غير معروفة: {value}. اختر إدارة من القائمة.",
        "unit.d": "ي",
        "unit.h": "س",
        "unit.min": "د",
    },
}

#: The header's link to the pages, in each language (a template global, set only when the profile has cases).
NAV = {lang: labels["nav.cases"] for lang, labels in LABELS.items()}


def label(lang: str, key: str, **values: Any) -> str:
    """The page's label ``key`` in ``lang`` (English when missing), with ``values`` filled in."""
    text = LABELS.get(lang, {}).get(key) or LABELS["en"].get(key) or key
    return text.format(**values) if values else text


class Refused(Exception):
    """A form or a filter the page refuses: shown to the user with a 400, nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- access ---------------------------------------------------------------------------------------------------


def _refuse(request: web.Request, status: int) -> web.Response:
    """Only supervisors and viewers (not an agent's desk login: 403), and only when the profile keeps cases (404)."""
    message = label(user_of(request).language, "msg.not_allowed" if status == 403 else "msg.no_cases")
    return _page(request, "case_missing.html", status=status, message=message)


def _cases(request: web.Request) -> CaseService | None:
    return getattr(backend_of(request), "cases", None)


def _service(request: web.Request) -> CaseService:
    service = _cases(request)
    assert service is not None  # the guard answered 404 otherwise
    return service


def _profile(request: web.Request) -> Profile:
    return backend_of(request).profile


def _page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """Render one of these pages with the console's frame; ``ct`` gives this module's labels."""
    lang = user_of(request).language
    return render(request, template, status=status, ct=lambda key, **values: label(lang, key, **values), **context)


# -- what the pages show -----------------------------------------------------------------------------------


def _localized(labels: Mapping[str, str], lang: str) -> str:
    return labels.get(lang) or labels.get("en") or next(iter(labels.values()), "")


@dataclasses.dataclass(frozen=True)
class Names:
    """The profile's names of categories, departments and districts in one language, and its clock."""

    profile: Profile
    lang: str
    now: datetime

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.profile.timezone)

    def category(self, topic_id: str) -> str:
        try:
            return _localized(self.profile.topic(topic_id).label, self.lang)
        except KeyError:
            return topic_id

    def department(self, department_id: str | None) -> str:
        if department_id is None:
            return label(self.lang, "cases.nobody")
        assert self.profile.cases is not None
        try:
            return _localized(self.profile.cases.department(department_id).label, self.lang)
        except KeyError:
            return department_id

    def district(self, district_id: str | None) -> str:
        if district_id is None:
            return ""
        assert self.profile.cases is not None
        found = next((d for d in self.profile.cases.districts if d.id == district_id), None)
        return _localized(found.label, self.lang) if found else district_id

    def status(self, status: str | None) -> str:
        return label(self.lang, f"status.{status}") if status else ""

    def when(self, moment: datetime | None) -> str:
        """A moment in the hotline's own time zone, to the minute."""
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    def lateness(self, case: Case) -> str:
        """How far past its due time a case is (days, hours, minutes), or '' when it is not overdue."""
        if not case.overdue(self.now):
            return ""
        return span(self.now - case.due_at, self.lang)


def span(late: timedelta, lang: str) -> str:
    minutes = int(late.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} {label(lang, 'unit.d')} {hours} {label(lang, 'unit.h')}"
    if hours:
        return f"{hours} {label(lang, 'unit.h')} {minutes} {label(lang, 'unit.min')}"
    return f"{minutes} {label(lang, 'unit.min')}"


def _row(case: Case, names: Names) -> dict[str, Any]:
    return {
        "number": case.number,
        "category": names.category(case.category),
        "district": names.district(case.district),
        "department": names.department(case.department),
        "status": case.status,
        "status_label": names.status(case.status),
        "due": names.when(case.due_at),
        "due_iso": case.due_at.isoformat(),
        "overdue": case.overdue(names.now),
        "late_by": names.lateness(case),
    }


def _names(request: web.Request) -> Names:
    service = _service(request)
    clock = getattr(service, "clock", None) or utc_now
    return Names(_profile(request), user_of(request).language, clock())


# -- the list ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Filters:
    category: str | None = None
    department: str | None = None
    status: str | None = None
    overdue: bool = False
    page: int = 1

    def query(self, **change: Any) -> str:
        """The list's query string with these filters (and ``change``), for links that keep them."""
        values = dataclasses.replace(self, **change)
        pairs = [
            (k, v)
            for k, v in (("category", values.category), ("department", values.department), ("status", values.status))
            if v
        ]
        if values.overdue:
            pairs.append(("overdue", "1"))
        if values.page != 1:
            pairs.append(("page", str(values.page)))
        return urlencode(pairs)


def _filters(request: web.Request, profile: Profile, lang: str, *, overdue: bool = False) -> Filters:
    """The filters of the list's query; an unknown value is refused, not ignored."""
    assert profile.cases is not None
    query = request.query
    known = {
        "category": {t.id for t in profile.topics},
        "department": {d.id for d in profile.cases.departments},
        "status": set(CASE_STATUSES),
    }
    chosen: dict[str, str | None] = {}
    for field, allowed in known.items():
        value = query.get(field, "")
        if value and value not in allowed:
            raise Refused(label(lang, "err.filter", field=field, value=repr(value[:64])))
        chosen[field] = value or None
    raw_overdue = query.get("overdue", "")
    if raw_overdue not in ("", "0", "1"):
        raise Refused(label(lang, "err.filter", field="overdue", value=repr(raw_overdue[:64])))
    raw_page = query.get("page", "1")
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise Refused(label(lang, "err.page"))
    return Filters(
        chosen["category"], chosen["department"], chosen["status"], overdue or raw_overdue == "1", int(raw_page)
    )


async def _list_page(request: web.Request, *, overdue_only: bool) -> web.Response:
    profile = _profile(request)
    names = _names(request)
    status = 200
    message = None
    try:
        filters = _filters(request, profile, names.lang, overdue=overdue_only)
    except Refused as exc:
        filters, status, message = Filters(overdue=overdue_only), 400, exc.message
    found: list[Case] = []
    more = False
    if message is None:
        service = _service(request)
        query = {"category": filters.category, "department": filters.department, "status": filters.status}
        start = (filters.page - 1) * PAGE_SIZE
        if overdue_only:
            found = await _all_overdue(service, query)
            found.sort(key=lambda c: (c.due_at, c.number))  # the latest first: the earliest due time
            more = len(found) > start + PAGE_SIZE
            found = found[start : start + PAGE_SIZE]
        else:
            overdue = True if filters.overdue else None
            found = await service.list(**query, overdue=overdue, limit=PAGE_SIZE + 1, offset=start)
            more = len(found) > PAGE_SIZE
            found = found[:PAGE_SIZE]
    assert profile.cases is not None
    return _page(
        request,
        "case_list.html",
        status=status,
        message=message,
        overdue_only=overdue_only,
        rows=[_row(c, names) for c in found],
        filters=filters,
        base="/cases/overdue" if overdue_only else "/cases",
        previous=filters.query(page=filters.page - 1) if filters.page > 1 else None,
        following=filters.query(page=filters.page + 1) if more else None,
        categories=[(t.id, names.category(t.id)) for t in profile.topics],
        departments=[(d.id, names.department(d.id)) for d in profile.cases.departments],
        statuses=[(s, names.status(s)) for s in CASE_STATUSES],
    )


async def _all_overdue(service: CaseService, query: dict[str, str | None]) -> list[Case]:
    """Every overdue case matching ``query`` (at most :data:`MAX_OVERDUE`), read a batch at a time: the
    service lists the newest first, and the overdue list sorts them by how late they are."""
    found: list[Case] = []
    while len(found) < MAX_OVERDUE:
        batch = await service.list(**query, overdue=True, limit=MAX_LIST, offset=len(found))
        found.extend(batch)
        if len(batch) < MAX_LIST:
            break
    return found


async def case_list(request: web.Request) -> web.Response:
    return await _list_page(request, overdue_only=False)


async def overdue_list(request: web.Request) -> web.Response:
    return await _list_page(request, overdue_only=True)


# -- one case ---------------------------------------------------------------------------------------------


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not valid_number(number):
        raise CaseNotFound(number)
    return number


def _history_row(entry: HistoryEntry, names: Names) -> dict[str, Any]:
    def value(text: str | None) -> str:
        if text is None:
            return ""
        if entry.action in ("status", "created"):
            return names.status(text) if text in CASE_STATUSES else text
        if entry.action == "department":
            return names.department(text)
        return text

    return {
        "at": names.when(entry.at),
        "at_iso": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "action_label": label(names.lang, f"action.{entry.action}")
        if f"action.{entry.action}" in LABELS["en"]
        else entry.action,
        "old": value(entry.old),
        "new": value(entry.new),
        "note": entry.note or "",
    }


async def _calls(request: web.Request, case: Case, names: Names) -> list[dict[str, Any]]:
    store: RecordStore = backend_of(request).records.store
    calls = []
    for linkedid in case.linkedids:
        record = await store.get(linkedid)
        calls.append(
            {
                "linkedid": linkedid,
                "found": record is not None,
                "started": names.when(record.started_at) if record else "",
                "topic": names.category(record.topic) if record and record.topic else "",
                "queue": record.queue or "" if record else "",
                "agent": record.agent or "" if record else "",
                "outcome": str(getattr(record.outcome, "value", record.outcome)) if record else "",
                "talk": round(record.talk_seconds) if record and record.talk_seconds is not None else "",
            }
        )
    return calls


async def _case_page(
    request: web.Request,
    case: Case,
    *,
    status: int = 200,
    message: str | None = None,
    bad: bool = False,
    attempted: str | None = None,
    form: Mapping[str, str] | None = None,
) -> web.Response:
    """The case page: ``case`` as it is now, with ``message`` (an error when ``bad``) and what the user typed."""
    profile = _profile(request)
    names = _names(request)
    assert profile.cases is not None
    history = await _service(request).history(case.number)
    language = next((lang for lang in profile.languages if lang.code == case.language), None)
    return _page(
        request,
        "case.html",
        status=status,
        message=message,
        bad=bad,
        attempted=attempted,
        form=dict(form or {}),
        case=case,
        row=_row(case, names),
        fields={
            "created_at": names.when(case.created_at),
            "updated_at": names.when(case.updated_at),
            "closed_at": names.when(case.closed_at),
            "language": language.code if language else case.language,
        },
        calls=await _calls(request, case, names),
        history=[_history_row(h, names) for h in history],
        # the status it has and those it may move to (the service checks the move again)
        statuses=[(s, names.status(s)) for s in CASE_STATUSES if s == case.status or s in TRANSITIONS[case.status]],
        departments=[(d.id, names.department(d.id)) for d in profile.cases.departments],
        max_reason=MAX_REASON,
        max_note=MAX_NOTE,
    )


async def case_page(request: web.Request) -> web.Response:
    lang = user_of(request).language
    try:
        case = await _service(request).get(_number(request))
    except CaseNotFound:
        number = request.match_info["number"][:20]
        return _page(request, "case_missing.html", status=404, message=label(lang, "msg.not_found", number=number))
    saved = request.query.get("saved") == "1"
    return await _case_page(request, case, message=label(lang, "msg.saved") if saved else None)


# -- changes ---------------------------------------------------------------------------------------------------


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _version(form: Mapping[str, Any], lang: str) -> int:
    raw = _field(form, "version")
    if not raw.isdigit() or len(raw) > 9:
        raise Refused(label(lang, "err.version"))
    return int(raw)


def _note(form: Mapping[str, Any], lang: str) -> str | None:
    note = _field(form, "note")
    if len(note) > MAX_NOTE:
        raise Refused(label(lang, "err.note_long", max=MAX_NOTE))
    return note or None


async def _change(
    request: web.Request, kind: str, read: Callable[[Mapping[str, Any], str], dict[str, Any]]
) -> web.Response:
    """Apply one form's change (``read`` turns the form into CaseService.change's arguments, or refuses it),
    audit it and go back to the case; a refusal or a stale version shows the case as it is now."""
    lang = user_of(request).language
    service = _service(request)
    try:
        number = _number(request)
        before = await service.get(number)
    except CaseNotFound:
        number = request.match_info["number"][:20]
        return _page(request, "case_missing.html", status=404, message=label(lang, "msg.not_found", number=number))
    form = await request.post()
    typed = {k: _field(form, k) for k in ("status", "reason", "department", "note")}
    try:
        version = _version(form, lang)
        change = read(form, lang)
        actor = request[ACTOR]
        after = await service.change(number, version=version, actor=actor.name, **change)
    except Refused as exc:
        return await _case_page(
            request, before, status=400, message=f"{label(lang, 'msg.refused')} {exc.message}", bad=True, form=typed
        )
    except CaseError as exc:
        return await _case_page(
            request, before, status=400, message=f"{label(lang, 'msg.refused')} {exc.message}", bad=True, form=typed
        )
    except StaleCase as exc:
        names = _names(request)
        attempted = ", ".join(
            f"{label(lang, 'cases.' + key if key != 'reason' else 'form.reason')}: "
            f"{names.status(v) if key == 'status' else names.department(v) if key == 'department' else v}"
            for key, v in change.items()
            if v
        )
        return await _case_page(
            request,
            exc.current,
            status=409,
            bad=True,
            attempted=attempted,
            form=typed,
            message=label(lang, "msg.stale", version=exc.current.version),
        )
    details: dict[str, Any] = {"version": after.version}
    if kind == "status":
        details.update(old=before.status, new=after.status, reason=change.get("reason"))
    else:
        details.update(old=before.department, new=after.department)
    details["note"] = change.get("note")
    await actor.audit(f"case.{kind}", number, details)
    raise web.HTTPSeeOther(f"/cases/{number}?saved=1")


def _status_change(form: Mapping[str, Any], lang: str) -> dict[str, Any]:
    status = _field(form, "status")
    if status not in CASE_STATUSES:
        raise Refused(label(lang, "err.status"))
    reason = _field(form, "reason")
    if len(reason) > MAX_REASON:
        raise Refused(label(lang, "err.reason_long", max=MAX_REASON))
    if status in DONE_STATUSES and not reason:
        raise Refused(label(lang, "err.reason_needed"))
    return {"status": status, "reason": reason or None, "note": _note(form, lang)}


def _department_change(profile: Profile) -> Callable[[Mapping[str, Any], str], dict[str, Any]]:
    assert profile.cases is not None
    known = {d.id for d in profile.cases.departments}

    def read(form: Mapping[str, Any], lang: str) -> dict[str, Any]:
        department = _field(form, "department")
        if department not in known:
            raise Refused(label(lang, "err.department", value=repr(department[:64])))
        return {"department": department, "note": _note(form, lang)}

    return read


async def status_form(request: web.Request) -> web.Response:
    return await _change(request, "status", _status_change)


async def department_form(request: web.Request) -> web.Response:
    return await _change(request, "department", _department_change(_profile(request)))


# -- mounting ------------------------------------------------------------------------------------------------


def setup(app: web.Application, console: Any) -> None:
    """Mount the case pages on the console's app; the header links to them only when the profile keeps cases."""
    if getattr(console.backend, "cases", None) is not None:
        console.templates.globals["cases_nav"] = NAV
    r = app.router
    page = functools.partial(guard, roles=ROLES, needs=_cases, refuse=_refuse)
    r.add_get("/cases", page(case_list))
    r.add_get("/cases/overdue", page(overdue_list))
    r.add_get("/cases/{number}", page(case_page))
    r.add_post("/cases/{number}/status", page(status_form))
    r.add_post("/cases/{number}/department", page(department_form))
