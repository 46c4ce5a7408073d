"""The console's campaigns page (issue 14, item 4): the day of each follow-up campaign, for supervisors and viewers.

``GET /campaigns`` (``?day=YYYY-MM-DD``, today by default): per campaign the day's figures (reached, not reached
after every attempt, pending, calling now, unknown after a restart, not dialled; the keys well, doctor and
emergency), the people not yet reached with a link to their CSV export (``/api/v1/campaigns/{id}/people.csv``),
the open emergency alerts with an acknowledge button, the contact lists and a form to import a CSV file into one.
The changes go through the API (``outbound.http``: CSRF, roles, audit) from ``console.js``; an import refused for
bad rows shows each line and its reason. Mounted only when the profile has campaigns (the header links to it then).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from console import i18n
from console.base import backend_of, guard, render, user_of
from outbound import http as outbound_http
from outbound.model import DayState, local_day

ROLES = frozenset({"supervisor", "viewer"})
PEOPLE_SHOWN = 500  # rows of the not-reached table (the CSV has them all)


def _services(request: web.Request) -> tuple[Any, Any] | None:
    backend = backend_of(request)
    campaigns, lists = getattr(backend, "campaigns", None), getattr(backend, "lists", None)
    return None if campaigns is None or lists is None else (campaigns, lists)


def _refuse(request: web.Request, status: int) -> web.Response:
    lang = user_of(request).language
    return render(request, "campaigns.html", status=status, campaigns=[], alerts=[], lists=[], list_names=[], day="",
                  message=i18n.t(lang, "msg.failed") + f" {status}")  # fmt: skip


def _day(request: web.Request, timezone: str) -> tuple[date, bool]:
    raw = request.query.get("day", "")
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100:
        return local_day(timezone, datetime.now(UTC)), not raw
    return day, True


async def campaigns_page(request: web.Request) -> web.Response:
    found = _services(request)
    assert found is not None
    campaigns, lists = found
    profile = backend_of(request).profile
    rules = profile.outbound
    assert rules is not None  # mounted only with campaigns
    lang = user_of(request).language
    zone = ZoneInfo(profile.timezone)
    day, good = _day(request, profile.timezone)
    shown = []
    for campaign in rules.campaigns:
        figures = outbound_http.figures_view(await campaigns.figures(campaign.id, day))
        people = await outbound_http.people_views(campaigns, campaign, day, "unreached")
        for person in people:
            last = person["last_attempt_at"]
            person["last_local"] = datetime.fromisoformat(last).astimezone(zone).strftime("%H:%M") if last else ""
            person["state_label"] = i18n.t(lang, f"daystate.{person['state']}")
        shown.append({
            "id": campaign.id,
            "label": campaign.label.get(lang) or campaign.label.get(profile.default_language) or campaign.id,
            "list": campaign.list, "enabled": campaign.enabled, "figures": figures,
            "people": people[:PEOPLE_SHOWN], "more": max(0, len(people) - PEOPLE_SHOWN),
            "csv": f"/api/v1/campaigns/{campaign.id}/people.csv?day={day.isoformat()}",
        })  # fmt: skip
    alerts = []
    for alert in await campaigns.alerts(open_only=True):
        view = outbound_http.alert_view(alert)
        view["raised_local"] = alert.raised_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        alerts.append(view)
    contact_lists = [
        {"name": x.name, "contacts": x.contacts, "updated": x.updated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")}
        for x in await lists.lists()
    ]
    return render(
        request,
        "campaigns.html",
        status=200 if good else 400,
        campaigns=shown,
        alerts=sorted(alerts, key=lambda a: a["id"], reverse=True),
        lists=contact_lists,
        list_names=sorted({c.list for c in rules.campaigns} | {x["name"] for x in contact_lists}),
        day=day.isoformat(),
        message="" if good else i18n.t(lang, "msg.failed") + " day",
        states=[s.value for s in DayState],
    )


def setup(app: web.Application, console: Any) -> None:
    """Mount the campaigns page when the profile has campaigns (the header links to it once mounted)."""
    backend = console.backend
    if getattr(backend, "campaigns", None) is not None and getattr(backend, "lists", None) is not None:
        app.router.add_get("/campaigns", guard(campaigns_page, roles=ROLES, needs=_services, refuse=_refuse))
