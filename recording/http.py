"""The recordings' HTTP API under /api/v1 (the console mounts it): supervisors only, even to read.

* ``GET /recordings``: the newest recordings (linkedid, topic, status, started, ended, length, kept until, purged)
  and the warnings (recording off: a full or read-only disk; the last recording failed).
* ``GET /recordings/{linkedid}/audio``: the WAV, to play (``inline``) or with ``?download=1`` to save
  (``attachment``); each play and download is written to the audit log (``recording.play``,
  ``recording.download``). A purged, failed or unrecorded call answers 404; a malformed linkedid 400.

Viewers and agents are refused (403) by the console, as for a change (``Operation.restricted``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from recording.model import Recording, RecordingError, file_name
from recording.service import RecordingService
from restapi.http import ACTOR, Operation, error, path_param, query_param, reply
from restapi.models import Answer

OFF = "this hotline records no calls"


class RecordingOut(Answer):
    linkedid: str
    topic: str
    status: str  # started, complete, failed, off, purged
    reason: str | None
    started_at: str
    ended_at: str | None
    duration_seconds: float | None
    retain_until: str
    purged_at: str | None
    playable: bool


class WarningOut(Answer):
    code: str  # disk_full, unwritable, failed
    message: str
    since: str


class RecordingsOut(Answer):
    warnings: list[WarningOut]
    recordings: list[RecordingOut]


def recording_out(recording: Recording, playable: bool) -> dict[str, Any]:
    return {
        "linkedid": recording.linkedid,
        "topic": recording.topic,
        "status": recording.status,
        "reason": recording.reason,
        "started_at": recording.started_at.isoformat(),
        "ended_at": recording.ended_at.isoformat() if recording.ended_at else None,
        "duration_seconds": recording.duration_seconds,
        "retain_until": recording.retain_until.isoformat(),
        "purged_at": recording.purged_at.isoformat() if recording.purged_at else None,
        "playable": playable,
    }


def warnings_out(service: RecordingService) -> list[dict[str, Any]]:
    return [{"code": w.code, "message": w.message, "since": w.since.isoformat()} for w in service.warnings()]


class _Handlers:
    def __init__(self, service: RecordingService | None) -> None:
        self.service = service

    def _service(self) -> RecordingService:
        if self.service is None or not self.service.enabled:
            raise error(web.HTTPNotFound, OFF)
        return self.service

    async def list(self, request: web.Request) -> web.Response:
        service = self._service()
        try:
            limit = int(request.query.get("limit", "200"))
            if not 1 <= limit <= 1000:
                raise ValueError
        except ValueError:
            raise error(web.HTTPBadRequest, "limit must be a whole number from 1 to 1000") from None
        rows = await service.store.latest(limit)
        recordings = [recording_out(r, service.path_of(r) is not None) for r in rows]
        return reply(RecordingsOut, {"warnings": warnings_out(service), "recordings": recordings})

    async def audio(self, request: web.Request) -> web.StreamResponse:
        service = self._service()
        linkedid = request.match_info["linkedid"]
        try:
            name = file_name(linkedid)
        except RecordingError as exc:
            raise error(web.HTTPBadRequest, str(exc)) from None
        download = request.query.get("download", "") not in ("", "0", "false")
        recording = await service.store.get(linkedid)
        path = None if recording is None else service.path_of(recording)
        if recording is None or path is None:
            raise error(web.HTTPNotFound, "no recording of this call is kept (none made, failed or purged)")
        # A browser plays a file in pieces (Range requests, and again on every seek): a play is audited once, at
        # the request that starts at the first byte; a piece further on is the same play going on.
        if _starts_at_first_byte(request.headers.get("Range")):
            action = "recording.download" if download else "recording.play"
            await request[ACTOR].audit(action, linkedid, {"topic": recording.topic})
        disposition = "attachment" if download else "inline"
        headers = {
            "Content-Type": "audio/wav",
            "Content-Disposition": f'{disposition}; filename="{name}"',
            "Cache-Control": "no-store",
        }
        return web.FileResponse(path, headers=headers)


def _starts_at_first_byte(range_header: str | None) -> bool:
    """No Range (the whole file), or a byte range from 0 (``bytes=0-``, ``bytes=0-1023``). Anything else, a malformed
    range included, is not a new play (aiohttp serves or refuses it; it is never a way to play unaudited from 0)."""
    if range_header is None:
        return True
    unit, _, ranges = range_header.strip().partition("=")
    first = ranges.split(",")[0].strip()
    return unit.strip().lower() == "bytes" and first.partition("-")[0].strip() == "0"


def routes(service: RecordingService | None) -> tuple[Operation, ...]:
    """The recordings' operations, bound to ``service`` (None, or a hotline that records nothing: 404)."""
    h = _Handlers(service)
    linkedid = path_param("linkedid", {"type": "string"}, "the call's linkedid")
    return (
        Operation(
            "get",
            "/recordings",
            "recordings_list",
            "Call recordings and the recording warnings (supervisors only)",
            h.list,
            answer=RecordingsOut,
            errors=(400, 403, 404),
            parameters=(query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),),
            restricted=True,
        ),
        Operation(
            "get",
            "/recordings/{linkedid}/audio",
            "recordings_audio",
            "A call's recording as WAV, to play or (download=1) to save; audited (supervisors only)",
            h.audio,
            errors=(400, 403, 404),
            parameters=(linkedid, query_param("download", {"type": "string", "enum": ["0", "1"]})),
            restricted=True,
        ),
    )
