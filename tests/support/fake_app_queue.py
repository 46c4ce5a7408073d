"""A fake app_queue behind :class:`support.fake_ami.FakeAMIServer`: queue members kept the way
app_queue keeps them, and QueueAdd, QueueRemove, QueuePause, QueuePenalty and QueueStatus answered
with the events Asterisk 22 sends."""

from __future__ import annotations

import time

from support.fake_ami import FakeAction, FakeAMIConnection, FakeAMIServer

__all__ = ["FakeAppQueue"]


class FakeAppQueue:
    """Members per queue, as app_queue keeps them, with its AMI events."""

    def __init__(self, server: FakeAMIServer) -> None:
        self.server = server
        self.members: dict[tuple[str, str], dict[str, str]] = {}  # (queue, interface) -> member
        for name in ("QueueAdd", "QueueRemove", "QueuePause", "QueuePenalty", "QueueStatus"):
            server.on_action(name, getattr(self, name.lower()))

    async def broadcast(self, headers: dict[str, str]) -> None:
        for conn in self.server.logged_in_connections:
            if not conn.closed.is_set():
                await conn.send({**headers, "Timestamp": f"{time.time():.6f}"})

    def member_event(self, event: str, member: dict[str, str]) -> dict[str, str]:
        return {"Event": event, **member}

    async def queueadd(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        key = (action.get("Queue"), action.get("Interface"))
        if key in self.members:
            await conn.respond(action, "Error", Message="Unable to add interface: Already there")
            return
        paused = action.get("Paused", "false") == "true"
        member = {
            "Queue": key[0], "MemberName": action.get("MemberName") or key[1], "Interface": key[1],
            "StateInterface": action.get("StateInterface") or key[1], "Membership": "dynamic",
            "Penalty": action.get("Penalty", "0"), "CallsTaken": "0", "LastCall": "0", "LastPause": "0",
            "LoginTime": str(int(time.time())), "InCall": "0", "Status": "1",
            "Paused": "1" if paused else "0", "PausedReason": action.get("Reason", "") if paused else "",
            "Wrapuptime": "0",
        }  # fmt: skip
        self.members[key] = member
        await conn.respond(action, Message="Added interface to queue")
        await self.broadcast(self.member_event("QueueMemberAdded", member))

    async def queueremove(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        member = self.members.pop((action.get("Queue"), action.get("Interface")), None)
        if member is None:
            await conn.respond(action, "Error", Message="Unable to remove interface: Not there")
            return
        await conn.respond(action, Message="Removed interface from queue")
        await self.broadcast(self.member_event("QueueMemberRemoved", member))

    async def queuepause(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        paused = action.get("Paused") == "true"
        targets = [m for (q, i), m in self.members.items()
                   if i == action.get("Interface") and action.get("Queue") in (None, q)]  # fmt: skip
        await conn.respond(action, Message="Interface paused successfully" if paused else "Interface unpaused")
        for member in targets:
            member["Paused"] = "1" if paused else "0"
            member["PausedReason"] = action.get("Reason", "") if paused else ""
            await self.broadcast(self.member_event("QueueMemberPause", member))

    async def queuepenalty(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        await conn.respond(action, Message="Interface penalty set successfully")
        for (queue, iface), member in self.members.items():
            if iface == action.get("Interface") and action.get("Queue") in (None, queue):
                member["Penalty"] = action.get("Penalty")
                await self.broadcast(self.member_event("QueueMemberPenalty", member))

    async def queuestatus(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        aid = action.action_id
        await conn.send({"Response": "Success", "ActionID": aid, "EventList": "start",
                         "Message": "Queue status will follow"})  # fmt: skip
        for member in self.members.values():
            fields = {k: v for k, v in member.items() if k not in ("MemberName", "Interface")}
            await conn.send({"Event": "QueueMember", "ActionID": aid, "Name": member["MemberName"],
                             "Location": member["Interface"], **fields})  # fmt: skip
        await conn.send({"Event": "QueueStatusComplete", "ActionID": aid, "EventList": "Complete",
                         "ListItems": str(len(self.members))})  # fmt: skip

    def active(self, queue: str) -> set[str]:
        return {m["MemberName"] for (q, _), m in self.members.items() if q == queue and m["Paused"] == "0"}

    def of(self, person: str) -> dict[str, dict[str, str]]:
        return {q: m for (q, _), m in self.members.items() if m["MemberName"] == person}
