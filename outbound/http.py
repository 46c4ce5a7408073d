"""Outbound work's HTTP API under /api/v1 (the console mounts it): the day's figures of each campaign, the people
not yet reached (JSON, and CSV for a spreadsheet), the emergency alerts and their acknowledgement, the contact
lists and their import from a CSV file, the do-not-call list.

Every signed-in user reads (viewers too); supervisors change (acknowledge an alert, import a list, add or remove
a do-not-call number), and every change is audited by the host (``restapi.http.ACTOR``). An import is all or
nothing: a file with a bad row answers 422 with each bad line and its reason, and stores nothing. Without an
``outbound`` section in the profile every operation answers 404.

The CSV export is UTF-8 with a byte order mark (so a spreadsheet shows Hindi or Arabic names as they are), and a
cell that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) is prefixed with ``'``: a name such as ``=HYPERLINK(...)`` in an imported list stays a text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from aiohttp import BodyPartReader, web
from pydantic import Field

from outbound.lists import LIST_NAME, MAX_FILE_BYTES, ImportRefused, check_list_name
from outbound.model import Alert, Attempt, Contact, DayState, local_day
from profiles.model import Campaign, Profile
from profiles.numbers import plain
from restapi.http import ACTOR, Handler, Operation, body_of, error, path_param, query_param, reply
from restapi.models import Answer, Body, Timestamp

if TYPE_CHECKING:
    from outbound.list_db import DncEntry, ListStore
    from outbound.service import CampaignService

OFF = "outbound campaigns are not running on this service"
MAX_ROW_ERRORS = 1000  # bad lines listed in a refusal at most (the message counts them all)
STATES = ("unreached", "all", *(s.value for s in DayState))
FIGURES = (
    "reached",
    "not_reached",
    "pending",
    "in_flight",
    "unknown",
    "refused",
    "well",
    "doctor",
    "emergency",
    "no_key",
    "attempts",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- bodies and answers ------------------------------------------------------------------------------------


class DayFiguresOut(Answer):
    reached: int
    not_reached: int
    pending: int
    in_flight: int
    unknown: int
    refused: int
    well: int
    doctor: int
    emergency: int
    no_key: int
    attempts: int


class CampaignOut(Answer):
    id: str
    label: dict[str, str]
    list: str
    enabled: bool
    day: str  # the local date of the figures
    figures: DayFiguresOut


class PersonOut(Answer):
    contact_id: int
    number: str
    name: str
    language: str
    district: str | None
    state: str
    attempts: int
    last_attempt_at: Timestamp | None
    last_outcome: str | None
    last_key: str | None
    fields: dict[str, str]


class AlertOut(Answer):
    id: int
    campaign: str
    attempt_id: int
    contact_id: int
    number: str
    name: str
    raised_at: Timestamp
    linkedid: str | None
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None


class ContactListOut(Answer):
    id: int
    name: str
    contacts: int
    updated_at: Timestamp
    campaigns: list[str]  # the profile's campaigns calling this list


class ImportOut(Answer):
    list: str
    list_id: int
    rows: int
    added: int
    updated: int
    removed: int
    unchanged: bool  # the same file again: nothing written
    dnc: int  # rows whose number is on the do-not-call list (imported, never dialled)


class RowErrorOut(Answer):
    line: int
    reason: str


class ImportRefusedOut(Answer):
    error: str
    errors: list[RowErrorOut]


class DncNew(Body):
    number: Annotated[str, Field(max_length=64)]
    reason: Annotated[str, Field(min_length=1, max_length=255)]
    messages: ClassVar[dict[str, str]] = {
        "number": "number must be a phone number: 3 to 15 digits, an optional leading +",
        "reason": "reason must say why, in at most 255 characters",
    }


class DncOut(Answer):
    number: str
    reason: str
    source: str  # "profile" (the profile's outbound.do_not_call: not removable here) or "console"
    added_at: Timestamp | None
    added_by: str | None


class ContactOut(Answer):
    """A person the agent's desk may click to call: today's, not yet reached."""

    contact_id: int
    campaign: str
    number: str
    name: str
    language: str
    district: str | None
    state: str


# -- views -------------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def figures_view(figures: Any) -> dict[str, int]:
    """A ``DayFigures`` as :class:`DayFiguresOut`."""
    return {name: int(getattr(figures, name, 0) or 0) for name in FIGURES}


def _last(attempts: Sequence[Attempt]) -> Attempt | None:
    return max(attempts, key=lambda a: a.number) if attempts else None


def person_view(contact: Contact, state: DayState, attempts: Sequence[Attempt]) -> dict[str, Any]:
    last = _last(attempts)
    return {
        "contact_id": contact.id or 0,
        "number": contact.number,
        "name": contact.name,
        "language": contact.language,
        "district": contact.district,
        "state": str(state),
        "attempts": len(attempts),
        "last_attempt_at": _iso((last.ended_at or last.dialed_at or last.claimed_at) if last else None),
        "last_outcome": str(last.outcome) if last and last.outcome else None,
        "last_key": last.key if last else None,
        "fields": dict(contact.fields),
    }


def alert_view(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id or 0,
        "campaign": alert.campaign,
        "attempt_id": alert.attempt_id,
        "contact_id": alert.contact_id,
        "number": alert.number,
        "name": alert.name,
        "raised_at": _iso(alert.raised_at),
        "linkedid": alert.linkedid,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
    }


def dnc_view(entry: DncEntry, source: str) -> dict[str, Any]:
    return {
        "number": entry.number,
        "reason": entry.reason,
        "source": source,
        "added_at": _iso(entry.added_at),
        "added_by": entry.added_by,
    }


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``=``, ``+``, ``-``, ``@``, tab or carriage return gets
    a ``'`` before it (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


CSV_COLUMNS = (
    "number",
    "name",
    "language",
    "district",
    "state",
    "attempts",
    "last_attempt",
    "last_outcome",
    "last_key",
)


def people_csv(people: Iterable[dict[str, Any]], timezone: str) -> bytes:
    """The people (:func:`person_view`) as CSV: UTF-8 with a BOM, the file's own columns after ours, every cell
    safe (:func:`safe_cell`), the last attempt in the profile's local time."""
    rows = list(people)
    extra = sorted({key for row in rows for key in row["fields"]} - set(CSV_COLUMNS))
    zone = ZoneInfo(timezone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS + tuple(extra))
    for row in rows:
        last = row["last_attempt_at"]
        local = datetime.fromisoformat(last).astimezone(zone).strftime("%Y-%m-%d %H:%M") if last else ""
        cells = [
            row["number"],
            row["name"],
            row["language"],
            row["district"] or "",
            row["state"],
            row["attempts"],
            local,
            row["last_outcome"] or "",
            row["last_key"] or "",
        ]
        writer.writerow([safe_cell(c) for c in cells] + [safe_cell(row["fields"].get(k, "")) for k in extra])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def agent_campaigns(profile: Profile, person_id: str | None) -> tuple[Campaign, ...]:
    """The campaigns whose people an agent may call from the desk: those of a topic or specialty the person takes
    (all of them when none is theirs, or no person is named); a campaign switched off still has its list."""
    rules = profile.outbound
    if rules is None:
        return ()
    enabled = rules.campaigns
    person = next((p for p in profile.people if p.id == person_id), None) if person_id else None
    if person is None:
        return enabled
    theirs = tuple(
        c
        for c in enabled
        if c.topic in person.topics or (c.specialty is not None and c.specialty in person.specialties)
    )
    return theirs or enabled


async def people_views(campaigns: CampaignService, campaign: Campaign, day: date, state: str) -> list[dict[str, Any]]:
    """The people of ``campaign`` on ``day`` in ``state`` (``unreached``: every one not reached yet; ``all``), as
    :class:`PersonOut`, by state then name (the API's answers and the console's page)."""
    wanted = DayState(state) if state not in ("unreached", "all") else None
    found = await campaigns.people(campaign.id, day, wanted)
    rows = [person_view(c, s, a) for c, s, a in found if state != "unreached" or s is not DayState.REACHED]
    return sorted(rows, key=lambda r: (r["state"], r["name"], r["number"]))


# -- requests ----------------------------------------------------------------------------------------------


def _clean_filename(raw: str | None) -> str:
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:255].strip()
    return name or "upload.csv"


async def _read_capped(read: Any) -> bytes:
    """Everything ``read(size)`` gives, refusing past :data:`MAX_FILE_BYTES` (413)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await read(64 * 1024):
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise error(web.HTTPRequestEntityTooLarge, f"the file is larger than {MAX_FILE_BYTES // 1048576} MB")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_of(request: web.Request) -> tuple[bytes, str]:
    """The CSV file of an import and its name: a multipart form's ``file`` field, or the whole body (text/csv,
    its name in ``?filename=``)."""
    if request.content_type.startswith("multipart/"):
        try:
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and part.name == "file":
                    return await _read_capped(part.read_chunk), _clean_filename(part.filename)
        except ValueError as exc:
            raise error(web.HTTPBadRequest, f"the form could not be read: {exc}") from None
        raise error(web.HTTPBadRequest, "the form has no 'file' field")
    if not request.can_read_body:
        raise error(web.HTTPBadRequest, "send the CSV file as the body (text/csv) or as the form field 'file'")
    return await _read_capped(request.content.read), _clean_filename(request.query.get("filename"))


def _day(request: web.Request, profile: Profile) -> date:
    raw = request.query.get("day")
    if raw is None or raw == "":
        return local_day(profile.timezone, datetime.now(UTC))
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        raise error(web.HTTPBadRequest, "day must be a date YYYY-MM-DD (from 2000 to 2100)")
    return day


def _state(request: web.Request) -> str:
    state = request.query.get("state", "unreached")
    if state not in STATES:
        raise error(web.HTTPBadRequest, f"state must be one of {', '.join(STATES)}")
    return state


class _Handlers:
    def __init__(self, campaigns: CampaignService, lists: ListStore, profile: Profile) -> None:
        self.campaigns = campaigns
        self.lists = lists
        self.profile = profile
        assert profile.outbound is not None
        self.rules = profile.outbound

    def _campaign(self, request: web.Request) -> Campaign:
        campaign_id = request.match_info["id"]
        try:
            return self.rules.campaign(campaign_id)
        except KeyError:
            raise error(web.HTTPNotFound, f"no campaign {campaign_id[:64]!r}") from None

    async def people(self, campaign: Campaign, day: date, state: str) -> list[dict[str, Any]]:
        return await people_views(self.campaigns, campaign, day, state)

    async def campaigns_list(self, request: web.Request) -> web.Response:
        day = _day(request, self.profile)
        out = []
        for campaign in self.rules.campaigns:
            figures = await self.campaigns.figures(campaign.id, day)
            out.append(
                {
                    "id": campaign.id,
                    "label": dict(campaign.label),
                    "list": campaign.list,
                    "enabled": campaign.enabled,
                    "day": day.isoformat(),
                    "figures": figures_view(figures),
                }
            )
        return reply(list[CampaignOut], out)

    async def people_list(self, request: web.Request) -> web.Response:
        campaign = self._campaign(request)
        rows = await self.people(campaign, _day(request, self.profile), _state(request))
        return reply(list[PersonOut], rows)

    async def people_export(self, request: web.Request) -> web.Response:
        campaign = self._campaign(request)
        day, state = _day(request, self.profile), _state(request)
        rows = await self.people(campaign, day, state)
        await request[ACTOR].audit(
            "campaign.export", campaign.id, {"day": day.isoformat(), "state": state, "rows": len(rows)}
        )
        name = f"{campaign.id}-{day.isoformat()}-{state}.csv"
        return web.Response(
            body=people_csv(rows, self.profile.timezone),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def alerts_list(self, request: web.Request) -> web.Response:
        which = request.query.get("state", "open")
        if which not in ("open", "all"):
            raise error(web.HTTPBadRequest, "state must be open or all")
        alerts = await self.campaigns.alerts(open_only=which == "open")
        return reply(list[AlertOut], [alert_view(a) for a in sorted(alerts, key=lambda a: a.id or 0, reverse=True)])

    async def alert_acknowledge(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        if not raw.isdigit() or len(raw) > 9:
            raise error(web.HTTPBadRequest, "the alert id must be a whole number")
        alert_id = int(raw)
        found = next((a for a in await self.campaigns.alerts(open_only=False) if a.id == alert_id), None)
        if found is None:
            raise error(web.HTTPNotFound, f"no alert {alert_id}")
        actor = request[ACTOR]
        if not await self.campaigns.acknowledge(alert_id, actor.name):
            raise error(web.HTTPConflict, f"alert {alert_id} is acknowledged already")
        await actor.audit(
            "campaign.alert_acknowledge", str(alert_id), {"campaign": found.campaign, "number": found.number}
        )
        after = next((a for a in await self.campaigns.alerts(open_only=False) if a.id == alert_id), found)
        return reply(AlertOut, alert_view(after))

    async def lists_list(self, _request: web.Request) -> web.Response:
        out = []
        for found in await self.lists.lists():
            calling = [c.id for c in self.rules.campaigns if c.list == found.name]
            out.append(
                {
                    "id": found.id,
                    "name": found.name,
                    "contacts": found.contacts,
                    "updated_at": _iso(found.updated_at),
                    "campaigns": calling,
                }
            )
        return reply(list[ContactListOut], out)

    async def list_import(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if (why := check_list_name(name)) is not None:
            raise error(web.HTTPBadRequest, why)
        data, filename = await upload_of(request)
        if not data.strip():
            raise error(web.HTTPBadRequest, "the file is empty")
        actor = request[ACTOR]
        try:
            result = await self.lists.import_csv(
                name, data, filename=filename, by=actor.name, profile=self.profile, now=datetime.now(UTC)
            )
        except ImportRefused as exc:
            errors = list(exc.errors)
            shown = [{"line": e.line, "reason": e.reason} for e in errors[:MAX_ROW_ERRORS]]
            more = f" (the first {MAX_ROW_ERRORS} listed)" if len(errors) > MAX_ROW_ERRORS else ""
            message = f"{len(errors)} bad row{'s' if len(errors) != 1 else ''}{more}: nothing was imported"
            return reply(ImportRefusedOut, {"error": message, "errors": shown}, status=422)
        except ValueError as exc:
            raise error(web.HTTPBadRequest, str(exc)) from None
        out = {
            "list": name,
            "list_id": result.list_id,
            "rows": result.rows,
            "added": result.added,
            "updated": result.updated,
            "removed": result.removed,
            "unchanged": result.unchanged,
            "dnc": result.dnc,
        }
        await actor.audit(
            "contact_list.import",
            name,
            {"filename": filename, **{k: out[k] for k in ("rows", "added", "updated", "removed", "unchanged")}},
        )
        return reply(ImportOut, out)

    async def dnc_list(self, _request: web.Request) -> web.Response:
        out: list[dict[str, Any]] = [
            {"number": n, "reason": "", "source": "profile", "added_at": None, "added_by": None}
            for n in self.rules.do_not_call
        ]
        out += [dnc_view(entry, "console") for entry in await self.lists.dnc()]
        return reply(list[DncOut], out)

    async def dnc_add(self, request: web.Request) -> web.Response:
        body = await body_of(request, DncNew)
        actor = request[ACTOR]
        try:
            entry = await self.lists.add_dnc(body.number, body.reason, by=actor.name, now=datetime.now(UTC))
        except ValueError as exc:
            raise error(web.HTTPBadRequest, str(exc)) from None
        await actor.audit("dnc.add", entry.number, {"reason": entry.reason})
        return reply(DncOut, dnc_view(entry, "console"), status=201)

    async def dnc_remove(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        if len(number) > 64:
            raise error(web.HTTPBadRequest, DncNew.messages["number"])
        if any(plain(n) == plain(number) for n in self.rules.do_not_call):
            raise error(web.HTTPConflict, f"{number} is on the profile's do-not-call list: change the profile")
        entry = next((e for e in await self.lists.dnc() if plain(e.number) == plain(number)), None)
        if entry is None or not await self.lists.remove_dnc(entry.number):
            raise error(web.HTTPNotFound, f"{number} is not on the do-not-call list")
        await request[ACTOR].audit("dnc.remove", entry.number, {"reason": entry.reason})
        return reply(DncOut, dnc_view(entry, "console"))

    async def desk_contacts(self, request: web.Request) -> web.Response:
        """Today's people not yet reached of the agent's campaigns, a search (``q``: name, number or district)
        narrowing them; at most 200."""
        query = request.query.get("q", "").strip().casefold()[:64]
        day = local_day(self.profile.timezone, datetime.now(UTC))
        out: list[dict[str, Any]] = []
        for campaign in agent_campaigns(self.profile, request[ACTOR].person):
            for row in await self.people(campaign, day, "unreached"):
                haystack = f"{row['name']} {row['number']} {row['district'] or ''}".casefold()
                if query and query not in haystack and plain(query) not in plain(row["number"]):
                    continue
                out.append(
                    {
                        "contact_id": row["contact_id"],
                        "campaign": campaign.id,
                        "number": row["number"],
                        "name": row["name"],
                        "language": row["language"],
                        "district": row["district"],
                        "state": row["state"],
                    }
                )
        return reply(list[ContactOut], out[:200])


async def _off(_request: web.Request) -> web.Response:
    raise error(web.HTTPNotFound, OFF)


CAMPAIGN = path_param("id", {"type": "string", "minLength": 1, "maxLength": 64}, "a campaign of the profile")
DAY = query_param("day", {"type": "string", "format": "date"}, "the local day (default: today)")
STATE = query_param("state", {"type": "string", "enum": list(STATES)}, "unreached (default): everyone not reached")


def routes(
    campaigns: CampaignService | None, lists: ListStore | None, profile: Profile | None = None
) -> tuple[Operation, ...]:
    """Outbound work's operations, bound to the campaign service and the list store (either None, or a profile
    without ``outbound``: each answers 404)."""
    running = campaigns is not None and lists is not None and profile is not None and profile.outbound is not None
    h = _Handlers(campaigns, lists, profile) if running else None  # type: ignore[arg-type]

    def bound(name: str) -> Handler:
        return getattr(h, name) if h is not None else _off

    return (
        Operation(
            "get",
            "/campaigns",
            "campaigns_list",
            "each campaign of the profile with the day's figures: reached, not reached after every attempt, "
            "pending, in flight, unknown (a restart), refused, keys well/doctor/emergency, no key, attempts",
            bound("campaigns_list"),
            answer=list[CampaignOut],
            errors=(400, 404),
            parameters=(DAY,),
        ),
        Operation(
            "get",
            "/campaigns/{id}/people",
            "campaign_people",
            "the people of a campaign's day, by state (default: everyone not reached yet)",
            bound("people_list"),
            answer=list[PersonOut],
            errors=(400, 404),
            parameters=(CAMPAIGN, DAY, STATE),
        ),
        Operation(
            "get",
            "/campaigns/{id}/people.csv",
            "campaign_people_csv",
            "the same as CSV (text/csv, UTF-8 with a BOM; a cell starting with = + - @ is prefixed with '); audited",
            bound("people_export"),
            errors=(400, 404),
            parameters=(CAMPAIGN, DAY, STATE),
        ),
        Operation(
            "get",
            "/campaign-alerts",
            "campaign_alerts",
            "the emergency alerts (a person pressed the emergency key), newest first: open ones, or all",
            bound("alerts_list"),
            answer=list[AlertOut],
            errors=(400, 404),
            parameters=(query_param("state", {"type": "string", "enum": ["open", "all"]}),),
        ),
        Operation(
            "post",
            "/campaign-alerts/{id}/acknowledge",
            "campaign_alert_acknowledge",
            "acknowledge an emergency alert (supervisors): it leaves the wallboard",
            bound("alert_acknowledge"),
            answer=AlertOut,
            errors=(400, 403, 404, 409),
            parameters=(path_param("id", {"type": "integer", "minimum": 1}),),
        ),
        Operation(
            "get",
            "/contact-lists",
            "contact_lists",
            "the contact lists, with how many people each has and the campaigns that call it",
            bound("lists_list"),
            answer=list[ContactListOut],
            errors=(404,),
        ),
        Operation(
            "post",
            "/contact-lists/{name}",
            "contact_list_import",
            "import a CSV file into a list (supervisors): the body (text/csv, ?filename=) or a multipart form's "
            "'file'; all or nothing: a bad row answers 422 with each bad line; the same file again changes nothing",
            bound("list_import"),
            answer=ImportOut,
            errors=(400, 403, 404, 413),
            error_answers=((422, ImportRefusedOut),),
            parameters=(
                path_param("name", {"type": "string", "pattern": f"^{LIST_NAME.pattern}$", "maxLength": 24}),
                query_param("filename", {"type": "string", "maxLength": 255}),
            ),
        ),
        Operation(
            "get",
            "/do-not-call",
            "dnc_list",
            "the numbers never called: the profile's and those added here",
            bound("dnc_list"),
            answer=list[DncOut],
            errors=(404,),
        ),
        Operation(
            "post",
            "/do-not-call",
            "dnc_add",
            "add a number to the do-not-call list (supervisors)",
            bound("dnc_add"),
            body=DncNew,
            answer=DncOut,
            status=201,
            errors=(400, 403, 404),
        ),
        Operation(
            "delete",
            "/do-not-call/{number}",
            "dnc_remove",
            "take a number off the do-not-call list (supervisors; the profile's own: 409)",
            bound("dnc_remove"),
            answer=DncOut,
            errors=(400, 403, 404, 409),
            parameters=(path_param("number", {"type": "string", "maxLength": 64}),),
        ),
        Operation(
            "get",
            "/desk/contacts",
            "desk_contacts",
            "the agent's click-to-call list: today's people not yet reached of their campaigns (q: a search)",
            bound("desk_contacts"),
            answer=list[ContactOut],
            errors=(404,),
            parameters=(query_param("q", {"type": "string", "maxLength": 64}),),
            roles=("agent",),
        ),
    )
