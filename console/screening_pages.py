"""The console's block list page (issue 13, item 5): nuisance callers, for supervisors (viewers read).

* ``GET /screening``: the numbers blocked now (manual or automatic, with reason, who and until when), the blocks
  that ended, and the numbers the detection warned;
* ``POST /screening/block`` (number, reason, optional expiry in the hotline's time zone) and
  ``POST /screening/unblock`` (number): plain HTML forms. Bad input (a number with letters, an expiry in the
  past, an overlong reason) shows the page again with 400 and a message, and changes nothing. Each change is
  written to the console's audit log (``screening.block``, ``screening.unblock``).

The pages go through :class:`screening.service.ScreeningService` (``Backend.screening``, None on a backend that
has none: 404). Sign-in, CSRF and roles are the console's own, applied as for the case pages.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from console.base import backend_of, guard, render, user_of
from restapi.http import ACTOR
from screening.model import MAX_REASON, Block, ScreeningError
from screening.service import ScreeningService

ROLES = frozenset({"supervisor", "viewer"})

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Blocked numbers",
        "current": "Blocked now",
        "past": "Ended blocks",
        "warnings": "Warned numbers",
        "number": "Number",
        "reason": "Reason",
        "source": "Source",
        "source.manual": "manual",
        "source.automatic": "automatic",
        "by": "By",
        "since": "Since",
        "until": "Until",
        "never": "no end",
        "removed": "Removed",
        "warned_at": "Warned at",
        "add": "Block a number",
        "expiry": "Until (optional, hotline time)",
        "block": "Block",
        "unblock": "Unblock",
        "none": "None.",
        "saved": "Saved.",
        "refused": "Not saved:",
        "not_allowed": "This page is for supervisors and viewers.",
        "off": "Screening is not running on this service.",
        "bad_expiry": "the expiry is not a date and time (e.g. 2027-01-01T08:00)",
        "withheld": "withheld numbers",
    },
    "ar": {
        "title": "الأرقام المحظورة",
        "current": "محظورة الآن",
        "past": "حظر منتهٍ",
        "warnings": "أرقام نُبّهت",
        "number": "الرقم",
        "reason": "السبب",
        "source": "المصدر",
        "source.manual": "يدوي",
        "source.automatic": "تلقائي",
        "by": "بواسطة",
        "since": "منذ",
        "until": "حتى",
        "never": "بلا نهاية",
        "removed": "أُزيل",
        "warned_at": "وقت التنبيه",
        "add": "حظر رقم",
        "expiry": "حتى (اختياري، بتوقيت الخط)",
        "block": "حظر",
        "unblock": "إلغاء الحظر",
        "none": "لا شيء.",
        "saved": "تم الحفظ.",
        "refused": "لم يُحفظ:",
        "not_allowed": "هذه الصفحة للمشرفين والمشاهدين.",
        "off": "الفحص غير مفعّل في هذه الخدمة.",
        "bad_expiry": "وقت الانتهاء ليس تاريخاً ووقتاً (مثل 2027-01-01T08:00)",
        "withheld": "الأرقام المحجوبة",
    },
    "hi": {
        "title": "अवरुद्ध नंबर",
        "current": "अभी अवरुद्ध",
        "past": "समाप्त अवरोध",
        "warnings": "चेतावनी वाले नंबर",
        "number": "नंबर",
        "reason": "कारण",
        "source": "स्रोत",
        "source.manual": "हाथ से",
        "source.automatic": "स्वचालित",
        "by": "किसने",
        "since": "कब से",
        "until": "कब तक",
        "never": "कोई अंत नहीं",
        "removed": "हटाया गया",
        "warned_at": "चेतावनी का समय",
        "add": "नंबर अवरुद्ध करें",
        "expiry": "तक (वैकल्पिक, हॉटलाइन का समय)",
        "block": "अवरुद्ध करें",
        "unblock": "अवरोध हटाएँ",
        "none": "कोई नहीं।",
        "saved": "सहेजा गया।",
        "refused": "सहेजा नहीं गया:",
        "not_allowed": "यह पेज पर्यवेक्षकों और दर्शकों के लिए है।",
        "off": "इस सेवा में स्क्रीनिंग नहीं चल रही है।",
        "bad_expiry": "समाप्ति तारीख और समय नहीं है (जैसे 2027-01-01T08:00)",
        "withheld": "छिपे हुए नंबर",
    },
}


def label(lang: str, key: str) -> str:
    return LABELS.get(lang, LABELS["en"]).get(key) or LABELS["en"].get(key, key)


def _screening(request: web.Request) -> ScreeningService | None:
    return getattr(backend_of(request), "screening", None)


def _refuse(request: web.Request, status: int) -> web.Response:
    """The page for a role it does not serve (403) or a service without screening (404)."""
    message = label(user_of(request).language, "not_allowed" if status == 403 else "off")
    return _page(request, status=status, message=message, bad=True, empty=True)


def _page(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    lang = user_of(request).language
    context.setdefault("current", [])
    context.setdefault("past", [])
    context.setdefault("warnings", [])
    context.setdefault("form", {})
    context.setdefault("message", "")
    context.setdefault("bad", False)
    context.setdefault("empty", False)
    return render(
        request, "screening.html", status=status, st=lambda key: label(lang, key), max_reason=MAX_REASON, **context
    )


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment is not None else ""


def _row(block: Block, zone: ZoneInfo, lang: str) -> dict[str, Any]:
    return {
        "number": block.number,
        "shown": label(lang, "withheld") if block.number == "withheld" else block.number,
        "reason": block.reason,
        "source": label(lang, f"source.{block.source}"),
        "by": block.created_by,
        "since": _when(block.created_at, zone),
        "until": _when(block.expires_at, zone) or label(lang, "never"),
        "removed": f"{_when(block.removed_at, zone)} ({block.removed_by})" if block.removed_at else "",
    }


async def _show(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    service = _screening(request)
    assert service is not None
    lang = user_of(request).language
    zone = ZoneInfo(service.profile.timezone)
    current = [_row(b, zone, lang) for b in await service.current()]
    past = [_row(b, zone, lang) for b in await service.past(100)]
    warnings = [{"number": n, "at": _when(at, zone)} for n, at in reversed(await service.warnings())][:100]
    return _page(request, status=status, current=current, past=past, warnings=warnings, **context)


async def screening_page(request: web.Request) -> web.Response:
    lang = user_of(request).language
    return await _show(request, message=label(lang, "saved") if request.query.get("saved") else "")


def _field(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _expiry(text: str, zone: ZoneInfo, lang: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ScreeningError(label(lang, "bad_expiry")) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


async def block_form(request: web.Request) -> web.Response:
    service = _screening(request)
    assert service is not None
    lang = user_of(request).language
    form = await request.post()
    typed = {k: _field(form, k) for k in ("number", "reason", "expires_at")}
    actor = request[ACTOR]
    try:
        expires = _expiry(typed["expires_at"], ZoneInfo(service.profile.timezone), lang)
        block = await service.block(typed["number"], typed["reason"], actor.name, expires)
    except ScreeningError as exc:
        return await _show(request, status=400, message=f"{label(lang, 'refused')} {exc}", bad=True, form=typed)
    details = {"reason": block.reason, "expires_at": block.expires_at.isoformat() if block.expires_at else None}
    await actor.audit("screening.block", block.number, details)
    raise web.HTTPSeeOther("/screening?saved=1")


async def unblock_form(request: web.Request) -> web.Response:
    service = _screening(request)
    assert service is not None
    lang = user_of(request).language
    form = await request.post()
    actor = request[ACTOR]
    try:
        ended = await service.unblock(_field(form, "number"), actor.name)
    except ScreeningError as exc:
        return await _show(request, status=400, message=f"{label(lang, 'refused')} {exc}", bad=True)
    await actor.audit("screening.unblock", ended[0].number, {"blocks": [b.id for b in ended]})
    raise web.HTTPSeeOther("/screening?saved=1")


def setup(app: web.Application, console: Any) -> None:
    """Mount the block list page on the console's app."""
    r = app.router
    page = functools.partial(guard, roles=ROLES, needs=_screening, refuse=_refuse)
    r.add_get("/screening", page(screening_page))
    r.add_post("/screening/block", page(block_form))
    r.add_post("/screening/unblock", page(unblock_form))
