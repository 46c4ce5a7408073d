"""The agent's desk: a console page for agents and doctors (role ``agent``, their own login).

When a call is connected to the agent's person (``AgentConnect``; see ``cdr.wrapup.Wrapups``), their open
desk pages get it at once over their WebSocket (``/desk/live``, pushed to that person's sockets only): the
caller's number, language, topic, the IVR path; then that number's earlier calls and open cases. From the
page the agent opens a case for the call (``CaseService.open``, category the call's topic by default), adds
the call to one of the caller's open cases (``link_call``), and chooses the call's wrap-up code among the
dispositions of its topic. Each of those acts on one of the agent's own calls only, and is audited.
With destinations in the profile, the agent also adds one of them to the call ("add to call": a three-way call
on ConfBridge, ``routing.conference.Conferences.add``, the same operation as the phone's conference key);
the agent may then hang up while the caller and the destination stay.

Access: an agent's login reaches this page, its socket and its changes (``POST /desk/case``, ``/desk/link``,
``/desk/wrapup``, ``/desk/conference``, JSON with the session's CSRF token), and their own sign-out, language and
password, and the API changes whose operation names the ``agent`` role (``cases.http``: open a case, link a
call); nothing else of the console (:func:`only_the_desk`, called by the console's guard). The pages'
labels, in Arabic and English, are this module's (:data:`LABELS`).

Mounted by ``console.app.setup_console`` with :func:`setup`; the live calls come from the service's
``wrapups`` (``cdr.wrapup.Wrapups``) and the cases from its ``cases`` (``cases.service.CaseService``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from aiohttp import WSMsgType, web
from pydantic import Field

from cdr.builder import CallRecord
from cdr.wrapup import AgentCall, WrapupError, Wrapups
from console.base import CONSOLE, PRINCIPAL, guard, own_origin, render, script_json
from console.db import User, digest
from console.hub import LiveClient, LiveHub
from profiles.model import Profile
from restapi.http import body_of, error
from restapi.models import Body
from routing.conference import ConferenceError, Conferences

log = logging.getLogger(__name__)

PAGE = "/desk"
LIVE = "/desk/live"
CASE = "/desk/case"
LINK = "/desk/link"
WRAPUP = "/desk/wrapup"
CONFERENCE = "/desk/conference"
#: What an agent's login may reach beyond the changes every role may make (sign-out, language, password).
AGENT_ROUTES = frozenset({("GET", PAGE), ("GET", LIVE), ("GET", "/api/v1/me")})
#: The desk's changes: open to every signed-in role in the console's guard; the handlers take agents only.
CHANGES = frozenset({("POST", CASE), ("POST", LINK), ("POST", WRAPUP), ("POST", CONFERENCE)})
OPEN_STATUSES = ("open", "assigned", "in_progress")
EARLIER_CALLS = 10
RECHECK_SECONDS = 10.0  # how often the desk's sockets are checked against the sessions in the database

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Agent desk",
        "nav.desk": "My desk",
        "waiting": "No call yet. A call connected to you shows here at once.",
        "call": "Current call",
        "call.ended": "call ended: wrap-up",
        "call.on": "on call",
        "caller": "Caller",
        "caller.unknown": "withheld",
        "language": "Language",
        "topic": "Topic",
        "path": "IVR path",
        "path.fallback": "the IVR did not route the call: default queue",
        "earlier": "Earlier calls from this number",
        "earlier.none": "No earlier calls.",
        "cases": "Open cases of this number",
        "cases.none": "No open cases.",
        "case.number": "Case",
        "case.category": "Category",
        "case.status": "Status",
        "case.opened": "Opened",
        "case.link": "Add this call",
        "new_case": "New case",
        "new_case.category": "Category",
        "new_case.description": "Description",
        "new_case.district": "District",
        "new_case.district.none": "(none)",
        "new_case.location": "Location (street, landmark)",
        "new_case.submit": "Open the case",
        "new_case.done": "Case opened:",
        "linked": "Call added to case",
        "wrapup": "Wrap-up code",
        "wrapup.none": "This topic has no wrap-up codes.",
        "wrapup.chosen": "Wrap-up code chosen:",
        "conference": "Add to call",
        "conference.note": "A three-way call: you may hang up once they talk; the caller stays with them.",
        "conference.added": "Being added to the call:",
        "when": "When",
        "outcome": "Outcome",
        "agent": "Agent",
        "live.connected": "live",
        "live.disconnected": "reconnecting…",
        "failed": "Refused:",
        "not_agent": "This page is an agent's desk: sign in with an agent's login "
        "(hotline user add NAME --role agent --person ID).",
        "no_desk": "The desk is not available in this service.",
        "logout": "Sign out",
        "language.switch": "العربية",
        "lang.ar": "Arabic",
        "lang.en": "English",
        "outcome.answered": "answered",
        "outcome.abandoned_queue": "abandoned in queue",
        "outcome.abandoned_ivr": "abandoned in the IVR",
        "outcome.failed": "failed",
        "outcome.self_served": "served without a person",
        "outcome.blocked": "blocked",
        "status.open": "open",
        "status.assigned": "assigned",
        "status.in_progress": "in progress",
        "status.closed": "closed",
        "status.rejected": "rejected",
        "lang.hi": "Hindi",
        "dial": "Call out",
        "dial.note": "Your phone rings first; answer it, then the number is called.",
        "dial.search": "Search (name, number, district)",
        "dial.call": "Call",
        "dial.number": "Number to call",
        "dial.submit": "Call this number",
        "dial.ringing": "Your phone is ringing: answer it, then the number is called.",
        "dial.none": "No one left to call today.",
    },
    "ar": {
        "title": "مكتب الموظف",
        "nav.desk": "مكتبي",
        "waiting": "لا توجد مكالمة بعد. ستظهر هنا فوراً أي مكالمة تُحوَّل إليك.",
        "call": "المكالمة الحالية",
        "call.ended": "انتهت المكالمة: الإنهاء",
        "call.on": "في مكالمة",
        "caller": "المتصل",
        "caller.unknown": "رقم محجوب",
        "language": "اللغة",
        "topic": "الخدمة",
        "path": "مسار الرد الآلي",
        "path.fallback": "لم يوجّه الرد الآلي المكالمة: قائمة الانتظار الافتراضية",
        "earlier": "مكالمات سابقة من هذا الرقم",
        "earlier.none": "لا توجد مكالمات سابقة.",
        "cases": "بلاغات مفتوحة لهذا الرقم",
        "cases.none": "لا توجد بلاغات مفتوحة.",
        "case.number": "البلاغ",
        "case.category": "التصنيف",
        "case.status": "الحالة",
        "case.opened": "فُتح في",
        "case.link": "أضف هذه المكالمة",
        "new_case": "بلاغ جديد",
        "new_case.category": "التصنيف",
        "new_case.description": "الوصف",
        "new_case.district": "الحي",
        "new_case.district.none": "(بدون)",
        "new_case.location": "الموقع (الشارع، معلم قريب)",
        "new_case.submit": "افتح البلاغ",
        "new_case.done": "تم فتح البلاغ:",
        "linked": "أضيفت المكالمة إلى البلاغ",
        "wrapup": "رمز الإنهاء",
        "wrapup.none": "لا توجد رموز إنهاء لهذه الخدمة.",
        "wrapup.chosen": "رمز الإنهاء المختار:",
        "conference": "أضف إلى المكالمة",
        "conference.note": "مكالمة ثلاثية: يمكنك إنهاء مكالمتك بعد أن يتحدثوا، ويبقى المتصل معهم.",
        "conference.added": "جارٍ الإضافة إلى المكالمة:",
        "when": "الوقت",
        "outcome": "النتيجة",
        "agent": "الموظف",
        "live.connected": "مباشر",
        "live.disconnected": "إعادة الاتصال…",
        "failed": "مرفوض:",
        "not_agent": "هذه الصفحة مكتب موظف: ادخل بحساب موظف (hotline user add NAME --role agent --person ID).",
        "no_desk": "المكتب غير متاح في هذه الخدمة.",
        "logout": "خروج",
        "language.switch": "English",
        "lang.ar": "العربية",
        "lang.en": "الإنجليزية",
        "outcome.answered": "تم الرد",
        "outcome.abandoned_queue": "أغلق أثناء الانتظار",
        "outcome.abandoned_ivr": "أغلق في الرد الآلي",
        "outcome.failed": "فشلت",
        "outcome.self_served": "خدمة ذاتية",
        "outcome.blocked": "محظور",
        "status.open": "مفتوح",
        "status.assigned": "مُسند",
        "status.in_progress": "قيد المعالجة",
        "status.closed": "مغلق",
        "status.rejected": "مرفوض",
        "lang.hi": "الهندية",
        "dial": "اتصال صادر",
        "dial.note": "يرن هاتفك أولاً؛ أجب ثم يُطلب الرقم.",
        "dial.search": "بحث (الاسم، الرقم، المنطقة)",
        "dial.call": "اتصل",
        "dial.number": "الرقم المطلوب",
        "dial.submit": "اتصل بهذا الرقم",
        "dial.ringing": "هاتفك يرن: أجب ثم يُطلب الرقم.",
        "dial.none": "لا أحد متبقٍ للاتصال اليوم.",
    },
    "hi": {
        "title": "एजेंट डेस्क",
        "nav.desk": "मेरा डेस्क",
        "waiting": "अभी कोई कॉल नहीं। आपसे जुड़ी कॉल यहाँ तुरंत दिखेगी।",
        "call": "मौजूदा कॉल",
        "call.ended": "कॉल समाप्त: समापन",
        "call.on": "कॉल पर",
        "caller": "कॉल करने वाला",
        "caller.unknown": "छिपा हुआ नंबर",
        "language": "भाषा",
        "topic": "विषय",
        "path": "IVR मार्ग",
        "path.fallback": "IVR ने कॉल को रूट नहीं किया: डिफ़ॉल्ट कतार",
        "earlier": "इस नंबर से पहले की कॉल",
        "earlier.none": "पहले की कोई कॉल नहीं।",
        "cases": "इस नंबर के खुले मामले",
        "cases.none": "कोई खुला मामला नहीं।",
        "case.number": "मामला",
        "case.category": "श्रेणी",
        "case.status": "स्थिति",
        "case.opened": "खोला गया",
        "case.link": "यह कॉल जोड़ें",
        "new_case": "नया मामला",
        "new_case.category": "श्रेणी",
        "new_case.description": "विवरण",
        "new_case.district": "ज़िला",
        "new_case.district.none": "(कोई नहीं)",
        "new_case.location": "स्थान (गली, पहचान चिह्न)",
        "new_case.submit": "मामला खोलें",
        "new_case.done": "मामला खोला गया:",
        "linked": "कॉल मामले में जोड़ी गई",
        "wrapup": "समापन कोड",
        "wrapup.none": "इस विषय के कोई समापन कोड नहीं हैं।",
        "wrapup.chosen": "चुना गया समापन कोड:",
        "conference": "कॉल में जोड़ें",
        "conference.note": "तीन-तरफ़ा कॉल: उनके बात करने लगने पर आप फ़ोन रख सकते हैं; कॉल करने वाला उनके साथ रहता है।",
        "conference.added": "कॉल में जोड़ा जा रहा है:",
        "when": "कब",
        "outcome": "परिणाम",
        "agent": "एजेंट",
        "live.connected": "लाइव",
        "live.disconnected": "फिर से जुड़ रहा है…",
        "failed": "अस्वीकृत:",
        "not_agent": "यह पेज एजेंट का डेस्क है: एजेंट के लॉग इन से साइन इन करें (hotline user add NAME --role agent --person ID)।",
        "no_desk": "इस सेवा में डेस्क उपलब्ध नहीं है।",
        "logout": "साइन आउट",
        "language.switch": "English",
        "lang.ar": "अरबी",
        "lang.en": "अंग्रेज़ी",
        "lang.hi": "हिन्दी",
        "outcome.answered": "उत्तर दिया गया",
        "outcome.abandoned_queue": "कतार में छोड़ दी गई",
        "outcome.abandoned_ivr": "IVR में छोड़ दी गई",
        "outcome.failed": "विफल",
        "outcome.self_served": "बिना व्यक्ति के सेवा दी गई",
        "outcome.blocked": "अवरुद्ध",
        "status.open": "खुला",
        "status.assigned": "सौंपा गया",
        "status.in_progress": "प्रगति में",
        "status.closed": "बंद",
        "status.rejected": "अस्वीकृत",
        "dial": "कॉल करें",
        "dial.note": "पहले आपका फ़ोन बजेगा; उत्तर दें, फिर नंबर मिलाया जाएगा।",
        "dial.search": "खोजें (नाम, नंबर, ज़िला)",
        "dial.call": "कॉल करें",
        "dial.number": "कॉल करने के लिए नंबर",
        "dial.submit": "यह नंबर मिलाएँ",
        "dial.ringing": "आपका फ़ोन बज रहा है: उत्तर दें, फिर नंबर मिलाया जाएगा।",
        "dial.none": "आज कॉल करने के लिए कोई बाकी नहीं।",
    },
}


def label(lang: str, key: str) -> str:
    return LABELS.get(lang, LABELS["en"]).get(key) or LABELS["en"].get(key, key)


def _localized(labels: Mapping[str, str], lang: str) -> str:
    return labels.get(lang) or labels.get("en") or next(iter(labels.values()), "")


# -- access --------------------------------------------------------------------------------------------------


def only_the_desk(request: web.Request, api: bool) -> None:
    """The console's guard calls this for an agent's login: their desk, its socket and changes, their own
    sign-out, language and password; the wallboard's address takes them to their desk; nothing else."""
    console = request.config_dict[CONSOLE]
    route = (request.method, request.path)
    if route in AGENT_ROUTES or route in CHANGES or route in console.any_role:
        return
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    if "agent" in getattr(console, "roles", {}).get((request.method, template), ()):
        return  # an API change whose operation names the agent role (opening a case, linking a call)
    if route == ("GET", "/"):
        raise web.HTTPSeeOther(PAGE)
    raise error(web.HTTPForbidden, "an agent's login reaches their desk only")


def _agent(request: web.Request) -> tuple[User, str]:
    """The signed-in agent and their person id; 403 for the other roles."""
    user: User = request[PRINCIPAL].user
    if not user.is_agent or not user.person:
        raise error(web.HTTPForbidden, label(user.language, "not_agent"))
    return user, user.person


# -- what the page shows -------------------------------------------------------------------------------------


class Views:
    """The profile's names in one language, for the payloads of the page."""

    def __init__(self, profile: Profile, lang: str) -> None:
        self.profile = profile
        self.lang = lang

    def topic(self, topic_id: str | None) -> str:
        if not topic_id:
            return ""
        try:
            return _localized(self.profile.topic(topic_id).label, self.lang)
        except KeyError:
            return topic_id

    def specialty(self, specialty_id: str | None) -> str:
        for topic in self.profile.topics:
            for specialty in topic.specialties:
                if specialty.id == specialty_id:
                    return _localized(specialty.label, self.lang)
        return specialty_id or ""

    def language(self, code: str | None) -> str:
        if not code:
            return ""
        found = LABELS.get(self.lang, {}).get(f"lang.{code}")
        return found or code

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo(self.profile.timezone)).strftime("%Y-%m-%d %H:%M")

    def call(self, call: AgentCall, dispositions: tuple[Any, ...]) -> dict[str, Any]:
        path = [self.language(call.language), self.topic(call.topic)]
        if call.specialty:
            path.append(self.specialty(call.specialty))
        return {
            "linkedid": call.linkedid,
            "caller_number": call.caller_number or "",
            "caller_name": call.caller_name or "",
            "language": call.language or "",
            "language_label": self.language(call.language),
            "topic": call.topic or "",
            "topic_label": self.topic(call.topic),
            "specialty": call.specialty or "",
            "path": [p for p in path if p],
            "routed": call.routed,
            "queue": call.queue or "",
            "connected_at": call.connected_at.isoformat(),
            "ended": call.ended_at is not None,
            "wrapup_code": call.wrapup_code or "",
            "dispositions": [
                {"id": d.id, "code": d.code, "label": _localized(d.label, self.lang)} for d in dispositions
            ],
        }

    def record(self, record: CallRecord) -> dict[str, Any]:
        return {
            "linkedid": record.linkedid,
            "started_at": record.started_at.isoformat(),
            "when": self.when(record.started_at),
            "topic_label": self.topic(record.topic),
            "outcome": label(self.lang, f"outcome.{record.outcome.value}"),
            "agent": record.agent or "",
            "wrapup_code": record.wrapup_code or "",
        }

    def case(self, case: Any) -> dict[str, Any]:
        return {
            "number": case.number,
            "category": case.category,
            "category_label": self.topic(case.category),
            "status": case.status,
            "status_label": label(self.lang, f"status.{case.status}"),
            "opened": self.when(case.created_at),
            "linked": list(case.linkedids),
        }


# -- the desk's sockets --------------------------------------------------------------------------------------


class DeskHub(LiveHub):
    """The desk's WebSockets, each of one person: a push goes to that person's sockets only. (The
    wallboard's periodic push loop is not run; the sockets are checked against the sessions every
    ``RECHECK_SECONDS``.)"""

    def __init__(self, still_valid: Callable[[list[LiveClient]], Awaitable[set[LiveClient]]]) -> None:
        super().__init__(self._nothing, still_valid=still_valid)
        self.people: dict[LiveClient, tuple[str, str]] = {}  # client -> (person, language)

    @staticmethod
    async def _nothing() -> dict[str, Any]:
        return {}

    def join_person(self, client: LiveClient, person: str, lang: str, first: dict[str, Any]) -> None:
        self.people[client] = (person, lang)
        self.clients.add(client)
        client.outbox.put_nowait(json.dumps(first, ensure_ascii=False))
        client.task = asyncio.create_task(self._pump(client), name=f"hotline-desk-{person}")

    def leave(self, client: LiveClient) -> None:
        self.people.pop(client, None)
        super().leave(client)

    def languages_of(self, person: str) -> set[str]:
        return {lang for p, lang in self.people.values() if p == person}

    def push(self, person: str, payloads: Mapping[str, dict[str, Any]]) -> int:
        """Put the payload in the language of each of ``person``'s sockets; never waits on a socket."""
        sent = 0
        for client, (owner, lang) in list(self.people.items()):
            if owner != person or lang not in payloads:
                continue
            try:
                client.outbox.put_nowait(json.dumps(payloads[lang], ensure_ascii=False))
                sent += 1
            except asyncio.QueueFull:
                log.warning("desk socket of %s fell behind: dropped", person)
                self._drop(client)
        self.pushes += 1
        return sent

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self.close_expired(datetime.now(UTC))
                await self.recheck()
            except Exception:  # a database hiccup must not end the checks
                log.exception("could not check the desk sockets' sessions")


class DeskPage:
    """The desk's state: its sockets, and the screen pops pushed to them."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.hub = DeskHub(self._still_valid)
        self._tasks: set[asyncio.Task[None]] = set()
        self._popped: dict[str, None] = {}  # linkedids whose earlier calls and cases were pushed

    @property
    def profile(self) -> Profile:
        return self.console.backend.profile

    @property
    def wrapups(self) -> Wrapups | None:
        return getattr(self.console.backend, "wrapups", None)

    @property
    def cases(self) -> Any:
        return getattr(self.console.backend, "cases", None)

    @property
    def manual(self) -> Any:
        """Click-to-call (``outbound.manual``): None without outbound, or with manual dialling off."""
        manual = getattr(self.console.backend, "manual", None)
        return manual if manual is not None and getattr(manual, "enabled", True) else None

    @property
    def conference(self) -> Conferences | None:
        """The conference operation (``routing.conference``); None when the profile has no destinations."""
        return getattr(self.console.backend, "conference", None)

    async def _still_valid(self, clients: list[LiveClient]) -> set[LiveClient]:
        sessions = {c.session for c in clients if c.session is not None}
        live, _ = await self.console.store.still_valid(sessions, set())
        return {c for c in clients if c.session in live}

    # -- pushes --------------------------------------------------------------------------------------
    def on_call(self, call: AgentCall) -> None:
        """A ``Wrapups`` listener: a call of ``call.person`` connected, ended or got its code."""
        if not self.hub.languages_of(call.person):
            return
        task = asyncio.get_running_loop().create_task(self._pop(call), name=f"hotline-desk-pop-{call.linkedid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pop(self, call: AgentCall) -> None:
        langs = self.hub.languages_of(call.person)
        dispositions = self.wrapups.dispositions(call.topic) if self.wrapups else ()
        self.hub.push(
            call.person, {lang: {"type": "call", "call": Views(self.profile, lang).call(call, dispositions)}
                          for lang in langs},
        )  # fmt: skip
        if call.linkedid in self._popped:
            return
        self._popped[call.linkedid] = None
        while len(self._popped) > 1000:
            del self._popped[next(iter(self._popped))]
        try:
            history = {lang: await self.history(call, lang) for lang in langs}
        except Exception:
            log.exception("earlier calls and cases of call %s could not be read", call.linkedid)
            return
        self.hub.push(call.person, history)

    async def history(self, call: AgentCall, lang: str) -> dict[str, Any]:
        """The caller's earlier calls and open cases (in ``lang``)."""
        views = Views(self.profile, lang)
        earlier: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        if call.caller_number:
            records = await self.console.backend.records.store.by_caller(call.caller_number, EARLIER_CALLS + 1)
            earlier = [views.record(r) for r in records if r.linkedid != call.linkedid][:EARLIER_CALLS]
            if self.cases is not None:
                found = await self.cases.list(caller_number=call.caller_number, limit=100)
                cases = [views.case(c) for c in found if c.status in OPEN_STATUSES]
        return {"type": "history", "linkedid": call.linkedid, "calls": earlier, "cases": cases}

    async def state(self, person: str, lang: str) -> dict[str, Any]:
        """A socket's first message: the person's latest call (if any), with its history."""
        latest = self.wrapups.last_call(person) if self.wrapups else None
        if latest is None:
            return {"type": "state", "call": None, "history": None}
        assert self.wrapups is not None
        views = Views(self.profile, lang)
        return {
            "type": "state",
            "call": views.call(latest, self.wrapups.dispositions(latest.topic)),
            "history": await self.history(latest, lang),
        }

    async def run(self) -> AsyncIterator[None]:
        if self.wrapups is not None:
            self.wrapups.add_listener(self.on_call)
        task = asyncio.create_task(self.hub.watch(), name="hotline-desk-watch")
        yield
        task.cancel()
        await asyncio.wait([task])
        for pending in list(self._tasks):
            pending.cancel()
        await self.hub.close_all()


DESK = web.AppKey("desk", DeskPage)


# -- routes --------------------------------------------------------------------------------------------------


def _desk(request: web.Request) -> DeskPage:
    return request.config_dict[DESK]


def _render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang = request[PRINCIPAL].user.language
    strings = dict(LABELS.get(lang, LABELS["en"]))
    return render(
        request,
        template,
        status=status,
        dt=lambda key: label(lang, key),
        desk_strings=script_json(strings),
        **context,
    )


async def desk_page(request: web.Request) -> web.Response:
    user: User = request[PRINCIPAL].user
    if not user.is_agent or not user.person:
        return _render(request, "desk_refused.html", status=403, message=label(user.language, "not_agent"))
    desk = _desk(request)
    if desk.wrapups is None:
        return _render(request, "desk_refused.html", status=503, message=label(user.language, "no_desk"))
    profile = desk.profile
    views = Views(profile, user.language)
    rules = profile.cases
    return _render(
        request,
        "desk.html",
        person=user.person,
        categories=[(t.id, views.topic(t.id)) for t in profile.topics] if rules else [],
        districts=[(d.id, _localized(d.label, user.language)) for d in rules.districts] if rules else [],
        cases_on=rules is not None and desk.cases is not None,
        destinations=[(d.id, _localized(d.label, user.language)) for d in profile.destinations]
        if desk.conference is not None
        else [],
        dial_on=desk.manual is not None,
        contacts_on=desk.manual is not None and getattr(desk.console.backend, "campaigns", None) is not None,
    )


async def desk_live(request: web.Request) -> web.StreamResponse:
    user, person = _agent(request)
    ws = web.WebSocketResponse(heartbeat=30.0)
    if not ws.can_prepare(request).ok:
        raise error(web.HTTPBadRequest, "this is a WebSocket endpoint: connect with a WebSocket client")
    if not own_origin(request):
        raise error(web.HTTPForbidden, "cross-site WebSocket refused")
    principal = request[PRINCIPAL]
    if principal.secret is None or principal.session is None:
        raise error(web.HTTPForbidden, "the desk's socket is for a signed-in session")
    desk = _desk(request)
    first = await desk.state(person, user.language)
    await ws.prepare(request)
    client = LiveClient(
        ws, request.transport, user.id, session=digest(principal.secret), expires_at=principal.session.expires_at
    )
    desk.hub.join_person(client, person, user.language, first)
    try:
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break
    finally:
        desk.hub.leave(client)
    return ws


Linkedid = Annotated[str, Field(min_length=1, max_length=150)]


class NewCase(Body):
    """Open a case for one of the agent's calls; the caller's number and language are the call's."""

    linkedid: Linkedid
    category: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # default: the call's topic
    description: Annotated[str, Field(max_length=20000)]
    district: Annotated[str, Field(max_length=64)] | None = None
    location: Annotated[str, Field(max_length=500)] | None = None
    messages: ClassVar[dict[str, str]] = {
        "linkedid": "linkedid must be the id of one of your calls",
    }


class LinkCall(Body):
    linkedid: Linkedid
    number: Annotated[str, Field(min_length=1, max_length=16)]
    messages: ClassVar[dict[str, str]] = {"number": "number must be a case number"}


class AddToCall(Body):
    """Add one of the profile's destinations (by its id) to one of the agent's calls: a three-way call."""

    linkedid: Linkedid
    destination: Annotated[str, Field(min_length=1, max_length=64)]
    messages: ClassVar[dict[str, str]] = {"destination": "destination must be the id of a destination of this hotline"}


class WrapupChoice(Body):
    linkedid: Linkedid
    code: Annotated[str, Field(min_length=1, max_length=64)]  # a disposition id of the call's topic
    messages: ClassVar[dict[str, str]] = {"code": "code must be a wrap-up code (a disposition id) of the call's topic"}


async def _own_call(request: web.Request, person: str, linkedid: str) -> AgentCall:
    wrapups = _desk(request).wrapups
    if wrapups is None:
        raise error(web.HTTPServiceUnavailable, "the desk is not available in this service")
    try:
        return await wrapups.call_of(person, linkedid)
    except WrapupError as exc:
        raise error(web.HTTPForbidden, str(exc)) from None


def _case_service(request: web.Request) -> Any:
    service = _desk(request).cases
    if service is None or _desk(request).profile.cases is None:
        raise error(web.HTTPNotFound, "this hotline keeps no cases")
    return service


@contextlib.contextmanager
def _case_refusals() -> Any:
    """The case service's refusals as HTTP answers: bad input 400, an unknown case 404."""
    from cases.model import CaseError, CaseNotFound

    try:
        yield
    except CaseError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None
    except CaseNotFound as exc:
        raise error(web.HTTPNotFound, f"no case {exc}") from None


def _case_out(case: Any) -> dict[str, Any]:
    return {"number": case.number, "category": case.category, "status": case.status,
            "linkedids": list(case.linkedids)}  # fmt: skip


async def case_create(request: web.Request) -> web.Response:
    user, person = _agent(request)
    body = await body_of(request, NewCase)
    call = await _own_call(request, person, body.linkedid)
    service = _case_service(request)
    with _case_refusals():
        case = await service.open(
            category=body.category or call.topic or "",
            description=body.description,
            caller_number=call.caller_number,
            language=call.language or _desk(request).profile.default_language,
            actor=user.name,
            source="desk",
            district=body.district or None,
            location=body.location or None,
            linkedid=call.linkedid,
        )
    await request.config_dict[CONSOLE].audit(
        request, "case.open", case.number, {"linkedid": call.linkedid, "category": case.category, "via": "desk"}
    )
    return web.json_response(_case_out(case), status=201)


async def case_link(request: web.Request) -> web.Response:
    user, person = _agent(request)
    body = await body_of(request, LinkCall)
    call = await _own_call(request, person, body.linkedid)
    service = _case_service(request)
    with _case_refusals():
        case = await service.link_call(body.number, call.linkedid, user.name)
    await request.config_dict[CONSOLE].audit(
        request, "case.link_call", case.number, {"linkedid": call.linkedid, "via": "desk"}
    )
    return web.json_response(_case_out(case))


async def wrapup_choose(request: web.Request) -> web.Response:
    user, person = _agent(request)
    body = await body_of(request, WrapupChoice)
    await _own_call(request, person, body.linkedid)
    wrapups = _desk(request).wrapups
    assert wrapups is not None
    try:
        disposition = await wrapups.choose(person, body.linkedid, body.code)
    except WrapupError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None
    await request.config_dict[CONSOLE].audit(
        request, "call.wrapup", body.linkedid, {"code": disposition.id, "person": person}
    )
    return web.json_response(
        {"linkedid": body.linkedid, "code": disposition.id, "label": _localized(disposition.label, user.language)}
    )


async def conference_add(request: web.Request) -> web.Response:
    user, person = _agent(request)
    body = await body_of(request, AddToCall)
    conference = _desk(request).conference
    if conference is None:
        raise error(web.HTTPNotFound, "this hotline has no destinations to add to a call")
    await _own_call(request, person, body.linkedid)
    try:
        plan = await conference.add(person, body.linkedid, body.destination, via="desk")
    except ConferenceError as exc:
        status = web.HTTPForbidden if exc.status == 403 else web.HTTPBadRequest
        raise error(status, str(exc)) from None
    await request.config_dict[CONSOLE].audit(
        request, "call.conference", body.linkedid, {"destination": plan.destination.id, "person": person}
    )
    label_of = _localized(plan.destination.label, user.language)
    return web.json_response(
        {"linkedid": body.linkedid, "conference": plan.conference, "destination": plan.destination.id,
         "label": label_of}
    )  # fmt: skip


def setup(app: web.Application, console: Any) -> DeskPage:
    """Mount the desk on the console's app: the page, its socket and its changes (JSON, CSRF)."""
    desk = DeskPage(console)
    app[DESK] = desk
    console.hubs.append(desk.hub)  # a sign-out, disabled or removed user, or new password closes the desk's socket too
    console.any_role = console.any_role | CHANGES  # the handlers take agents only (:func:`_agent`)
    console.agent_gate = only_the_desk  # an agent's login reaches this desk only

    app.cleanup_ctx.append(lambda _app: desk.run())
    r = app.router
    r.add_get(PAGE, guard(desk_page))
    r.add_get(LIVE, guard(desk_live, api=True))
    r.add_post(CASE, guard(case_create, api=True))
    r.add_post(LINK, guard(case_link, api=True))
    r.add_post(WRAPUP, guard(wrapup_choose, api=True))
    r.add_post(CONFERENCE, guard(conference_add, api=True))
    return desk
