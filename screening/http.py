"""The block list's HTTP API under /api/v1 (the console mounts it): list the current or past blocks and the
warnings (every signed-in user), block a number with a reason and an optional expiry, end a number's block
(supervisors). Each change is audited by the host (``restapi.http.ACTOR``). Bad input answers 400 with a message
naming what is wrong, and changes nothing; ending a block of a number that is not blocked answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import Field

from restapi.http import ACTOR, Handler, Operation, body_of, error, path_param, query_param, reply
from restapi.models import Answer, Body, Timestamp
from screening.model import MAX_REASON, Block, ScreeningError
from screening.service import ScreeningService

OFF = "screening is not running on this service"


class BlockNew(Body):
    number: Annotated[str, Field(max_length=64)]
    reason: Annotated[str, Field(max_length=20_000)]  # the service refuses past MAX_REASON, with its message
    expires_at: Annotated[str, Field(max_length=64)] | None = None  # ISO 8601 with a zone; None: no end
    messages: ClassVar[dict[str, str]] = {
        "number": "number must be a phone number: 3 to 32 digits, an optional leading +",
        "reason": f"reason must be a text of at most {MAX_REASON} characters",
        "expires_at": "expires_at must be a date and time with a zone (ISO 8601), or left out",
    }


class BlockOut(Answer):
    id: int
    number: str
    reason: str
    source: str
    created_by: str
    created_at: Timestamp
    expires_at: Timestamp | None
    removed_at: Timestamp | None
    removed_by: str | None
    active: bool


class WarningOut(Answer):
    number: str
    warned_at: Timestamp


def block_view(block: Block, now: datetime) -> dict[str, Any]:
    return {
        "id": block.id,
        "number": block.number,
        "reason": block.reason,
        "source": block.source,
        "created_by": block.created_by,
        "created_at": block.created_at.isoformat(),
        "expires_at": block.expires_at.isoformat() if block.expires_at else None,
        "removed_at": block.removed_at.isoformat() if block.removed_at else None,
        "removed_by": block.removed_by,
        "active": block.active(now),
    }


def parse_expiry(text: str | None) -> datetime | None:
    """An expiry as typed (ISO 8601; a trailing Z is UTC); empty: none. ScreeningError otherwise."""
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ScreeningError(f"expires_at {text[:40]!r} is not a date and time (e.g. 2027-01-01T08:00:00Z)") from None
    if moment.tzinfo is None:
        raise ScreeningError("expires_at must have a time zone (e.g. 2027-01-01T08:00:00Z or +04:00)")
    return moment


class _Handlers:
    def __init__(self, screening: ScreeningService) -> None:
        self.screening = screening

    async def blocks_list(self, request: web.Request) -> web.Response:
        state = request.query.get("state", "current")
        if state not in ("current", "past"):
            raise error(web.HTTPBadRequest, "state must be current or past")
        found = await (self.screening.current() if state == "current" else self.screening.past())
        now = self.screening.clock()
        return reply(list[BlockOut], [block_view(b, now) for b in found])

    async def block_add(self, request: web.Request) -> web.Response:
        body = await body_of(request, BlockNew)
        actor = request[ACTOR]
        try:
            block = await self.screening.block(body.number, body.reason, actor.name, parse_expiry(body.expires_at))
        except ScreeningError as exc:
            raise error(web.HTTPBadRequest, str(exc)) from None
        details = {"reason": block.reason, "expires_at": block.expires_at.isoformat() if block.expires_at else None}
        await actor.audit("screening.block", block.number, details)
        return reply(BlockOut, block_view(block, self.screening.clock()), status=201)

    async def block_remove(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        actor = request[ACTOR]
        try:
            ended = await self.screening.unblock(number, actor.name)
        except ScreeningError as exc:
            status = web.HTTPNotFound if "is not blocked" in str(exc) else web.HTTPBadRequest
            raise error(status, str(exc)) from None
        await actor.audit("screening.unblock", ended[0].number, {"blocks": [b.id for b in ended]})
        now = self.screening.clock()
        return reply(list[BlockOut], [block_view(b, now) for b in ended])

    async def warnings_list(self, _request: web.Request) -> web.Response:
        found = await self.screening.warnings()
        return reply(list[WarningOut], [{"number": n, "warned_at": at.isoformat()} for n, at in reversed(found)])


async def _off(_request: web.Request) -> web.Response:
    raise error(web.HTTPNotFound, OFF)


NUMBER = path_param("number", {"type": "string", "maxLength": 64}, "the blocked number (or 'withheld')")


def routes(screening: ScreeningService | None) -> tuple[Operation, ...]:
    """The block list's operations, bound to ``screening`` (None: each answers 404)."""
    h = _Handlers(screening) if screening is not None else None

    def bound(name: str) -> Handler:
        return getattr(h, name) if h is not None else _off

    return (
        Operation(
            "get",
            "/screening/blocks",
            "screening_blocks",
            "the block list: the blocks in force (state=current, the default) or those that ended (state=past)",
            bound("blocks_list"),
            answer=list[BlockOut],
            errors=(400, 404),
            parameters=(query_param("state", {"type": "string", "enum": ["current", "past"]}),),
        ),
        Operation(
            "post",
            "/screening/blocks",
            "screening_block",
            "block a number (supervisors) with a reason and an optional expiry in the future; the caller hears "
            "the blocked message and is hung up",
            bound("block_add"),
            body=BlockNew,
            answer=BlockOut,
            status=201,
            errors=(400, 403, 404),
        ),
        Operation(
            "delete",
            "/screening/blocks/{number}",
            "screening_unblock",
            "end every block in force of a number (supervisors); 404 when it is not blocked",
            bound("block_remove"),
            answer=list[BlockOut],
            errors=(400, 403, 404),
            parameters=(NUMBER,),
        ),
        Operation(
            "get",
            "/screening/warnings",
            "screening_warnings",
            "the numbers warned by the automatic detection, newest first",
            bound("warnings_list"),
            answer=list[WarningOut],
            errors=(404,),
        ),
    )
