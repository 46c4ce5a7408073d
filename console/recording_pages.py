"""The console's recordings page (issue 12, item 4): call recordings, for supervisors only.

``GET /recordings``: the newest recordings (when, topic, status, length, kept until) with a player and a download
link for each file still kept; above them, why recording is off or failed (a full or read-only disk, a recording
that lost its end). Playing and downloading go through the API (``GET /api/v1/recordings/{linkedid}/audio``), which
writes each to the audit log; the players load nothing until played (``preload="none"``), so opening the page plays
nothing. Viewers get 403, agents reach their own desk only; mounted only when a topic records.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from console.base import backend_of, guard, render, user_of
from recording.service import RecordingService

#: Who may open the page: the role that may change things (``User.can_change``), not viewers.
ROLES = frozenset({"supervisor"})

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Call recordings",
        "started": "Started",
        "topic": "Topic",
        "status": "Status",
        "length": "Length",
        "kept": "Kept until",
        "listen": "Listen",
        "download": "Download",
        "none": "No recordings yet.",
        "not_allowed": "Only supervisors may listen to recordings.",
        "explain": "Each play and download is written to the audit log.",
        "status.started": "recording",
        "status.complete": "recorded",
        "status.failed": "failed",
        "status.off": "not recorded (recording off)",
        "status.purged": "removed after its retention",
        "warning.disk_full": "Recording is off: the disk is full. Calls go on unrecorded.",
        "warning.unwritable": "Recording is off: the recordings folder cannot be written. Calls go on unrecorded.",
        "warning.failed": "A recording failed",
    },
    "ar": {
        "title": "تسجيلات المكالمات",
        "started": "البداية",
        "topic": "الموضوع",
        "status": "الحالة",
        "length": "المدة",
        "kept": "يحفظ حتى",
        "listen": "استماع",
        "download": "تنزيل",
        "none": "لا توجد تسجيلات بعد.",
        "not_allowed": "الاستماع إلى التسجيلات للمشرفين فقط.",
        "explain": "يُسجَّل كل استماع وتنزيل في سجل التدقيق.",
        "status.started": "قيد التسجيل",
        "status.complete": "مسجلة",
        "status.failed": "فشل التسجيل",
        "status.off": "لم تسجل (التسجيل متوقف)",
        "status.purged": "حذفت بعد مدة الحفظ",
        "warning.disk_full": "التسجيل متوقف: القرص ممتلئ. تستمر المكالمات دون تسجيل.",
        "warning.unwritable": "التسجيل متوقف: لا يمكن الكتابة في مجلد التسجيلات. تستمر المكالمات دون تسجيل.",
        "warning.failed": "فشل تسجيل",
    },
    "hi": {
        "title": "कॉल रिकॉर्डिंग",
        "started": "शुरू",
        "topic": "विषय",
        "status": "स्थिति",
        "length": "अवधि",
        "kept": "कब तक रखी जाएगी",
        "listen": "सुनें",
        "download": "डाउनलोड",
        "none": "अभी तक कोई रिकॉर्डिंग नहीं।",
        "not_allowed": "केवल पर्यवेक्षक रिकॉर्डिंग सुन सकते हैं।",
        "explain": "हर बार सुनना और डाउनलोड करना ऑडिट लॉग में लिखा जाता है।",
        "status.started": "रिकॉर्ड हो रही है",
        "status.complete": "रिकॉर्ड हो गई",
        "status.failed": "विफल",
        "status.off": "रिकॉर्ड नहीं हुई (रिकॉर्डिंग बंद)",
        "status.purged": "रखने की अवधि के बाद हटाई गई",
        "warning.disk_full": "रिकॉर्डिंग बंद है: डिस्क भर गई है। कॉल बिना रिकॉर्डिंग के जारी हैं।",
        "warning.unwritable": "रिकॉर्डिंग बंद है: रिकॉर्डिंग फ़ोल्डर में लिखा नहीं जा सकता। कॉल बिना रिकॉर्डिंग के जारी हैं।",
        "warning.failed": "एक रिकॉर्डिंग विफल हुई",
    },
}


def _service(request: web.Request) -> RecordingService | None:
    return getattr(backend_of(request), "recording", None)


def _page(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    lang = user_of(request).language
    context.setdefault("rows", [])
    context.setdefault("warnings", [])
    context.setdefault("message", "")
    return render(
        request, "recordings.html", status=status, rl=lambda key: LABELS.get(lang, LABELS["en"])[key], **context
    )


def _refuse(request: web.Request, status: int) -> web.Response:
    """The page for a viewer (403): only the role that may change things listens."""
    return _page(request, status=status, message=LABELS.get(user_of(request).language, LABELS["en"])["not_allowed"])


def _length(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


async def recordings_page(request: web.Request) -> web.Response:
    service = _service(request)
    assert service is not None
    lang = user_of(request).language
    labels = LABELS.get(lang, LABELS["en"])
    zone = ZoneInfo(service.profile.timezone)
    topics = {t.id: t.label.get(lang) or next(iter(t.label.values())) for t in service.profile.topics}
    rows = [
        {
            "linkedid": r.linkedid,
            "started": r.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
            "topic": topics.get(r.topic, r.topic),
            "status": r.status,
            "status_label": labels.get(f"status.{r.status}", r.status),
            "length": _length(r.duration_seconds),
            "kept": r.retain_until.astimezone(zone).strftime("%Y-%m-%d"),
            "playable": service.path_of(r) is not None,
        }
        for r in await service.store.latest(200)
    ]
    warnings = [{"code": w.code, "text": labels[f"warning.{w.code}"], "detail": w.message} for w in service.warnings()]
    return _page(request, rows=rows, warnings=warnings)


def setup(app: web.Application, console: Any) -> None:
    """Mount the recordings page when the hotline records (the header links to it once mounted)."""
    service = getattr(console.backend, "recording", None)
    if service is not None and service.enabled:
        app.router.add_get("/recordings", guard(recordings_page, roles=ROLES, refuse=_refuse))
