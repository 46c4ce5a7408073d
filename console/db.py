"""The console's tables (users, sessions, API tokens, audit log), on SQLAlchemy asyncio.

Schema: storage/migrations/versions/0005_console.py and 0006_console_hardening.py. Passwords are
argon2 hashes (argon2-cffi, its default parameters); session ids and API tokens are random
256-bit values, so only their SHA-256 is stored (a stolen database gives neither a usable cookie nor a usable token).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from console.rows import ApiTokenRow, AuditLogRow, ConsoleSessionRow, ConsoleUserRow, LoginFailureRow
from storage.engine import Database

ROLES = ("supervisor", "viewer", "agent")
LANGUAGES = ("ar", "en", "hi")
SESSION_HOURS = 12
MIN_PASSWORD = 10
TOKEN_PREFIX = "hlc_"

_hasher = PasswordHasher()
# Verified when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class ConsoleError(ValueError):
    """A request the store refuses (a name taken, a bad role…), with a message for the user."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    language: str
    disabled: bool = False
    person: str | None = None  # an ``agent``'s person id in the profile (their desk), a supervisor's own phone

    @property
    def can_change(self) -> bool:
        return self.role == "supervisor"

    @property
    def is_agent(self) -> bool:
        """An agent or doctor: signs in to their own desk only (their calls, cases and wrap-up codes)."""
        return self.role == "agent"


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Token:
    """An API token as listed (never its clear text)."""

    id: int
    user: str
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def _token(row: ApiTokenRow, user: str) -> Token:
    return Token(row.id, user, row.label, row.prefix, row.created_at, row.last_used_at, row.revoked)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64 or not name.strip().isprintable():
        raise ConsoleError("name must be 1 to 64 printable characters")
    return name.strip()


def check_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 1024:
        raise ConsoleError(f"password must be {MIN_PASSWORD} to 1024 characters")
    return password


def check_role(role: object) -> str:
    if role not in ROLES:
        raise ConsoleError(f"role must be one of {', '.join(ROLES)}")
    return str(role)


def check_language(language: object) -> str:
    if language not in LANGUAGES:
        raise ConsoleError(f"language must be one of {', '.join(LANGUAGES)}")
    return str(language)


def check_person(
    role: str, person: object, people: Collection[str] | None = None, supervisors: Collection[str] | None = None
) -> str | None:
    """An ``agent`` has the person id of their desk (one of ``people``, the profile's, when given); a
    ``supervisor`` may have the id of their own phone (one of ``supervisors``, the profile's, when given: the phone
    rung when they listen to a live call); a ``viewer`` has none."""
    if role == "supervisor":
        if person is None:
            return None
        if not isinstance(person, str) or not person.strip():
            raise ConsoleError("a supervisor's --person is their own phone's id (one of the profile's supervisors)")
        person = person.strip()
        if supervisors is not None and person not in supervisors:
            known = ", ".join(sorted(supervisors)[:10]) or "none"
            raise ConsoleError(f"{person!r} is not a supervisor's phone of the profile (supervisors: {known})")
        return person
    if role != "agent":
        if person is not None:
            raise ConsoleError(f"only an agent or a supervisor has a person id (the role is {role})")
        return None
    if not isinstance(person, str) or not person.strip():
        raise ConsoleError("an agent needs the person id of their desk (--person ID, a person of the profile)")
    person = person.strip()
    if people is not None and person not in people:
        known = ", ".join(sorted(people)[:10]) or "none"
        raise ConsoleError(f"{person!r} is not a person of the profile (people: {known})")
    return person


def _user(row: ConsoleUserRow) -> User:
    return User(row.id, row.name, row.role, row.language, row.disabled, row.person)


class ConsoleStore:
    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)
        self._sessions = self.db.writers

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    # -- users ---------------------------------------------------------------------------------
    async def add_user(
        self,
        name: str,
        password: str,
        role: str,
        language: str = "en",
        *,
        person: str | None = None,
        people: Collection[str] | None = None,
        supervisors: Collection[str] | None = None,
    ) -> User:
        """Add a user. An ``agent`` needs ``person``, the person id of their desk (checked against
        ``people``, the profile's person ids, when given); a ``supervisor`` may have one, their own phone (checked
        against ``supervisors``, the profile's, when given); a viewer has none."""
        name, role, language = check_name(name), check_role(role), check_language(language)
        person = check_person(role, person, people, supervisors)
        hashed = await asyncio.to_thread(hash_password, check_password(password))
        try:
            async with self._sessions.begin() as session:
                row = ConsoleUserRow(
                    name=name,
                    role=role,
                    password_hash=hashed,
                    language=language,
                    created_at=datetime.now(UTC),
                    person=person,
                )
                session.add(row)
                await session.flush()
                return _user(row)
        except IntegrityError:
            raise ConsoleError(f"a user named {name!r} exists already") from None

    async def users(self) -> list[User]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(ConsoleUserRow).order_by(ConsoleUserRow.name))).all()
        return [_user(row) for row in rows]

    async def user_by_name(self, name: str) -> User | None:
        async with self._sessions() as session:
            row = await session.scalar(select(ConsoleUserRow).where(ConsoleUserRow.name == name))
        return None if row is None else _user(row)

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is right; argon2 runs off the event loop either way."""
        async with self._sessions() as session:
            row = await session.scalar(select(ConsoleUserRow).where(ConsoleUserRow.name == name))
        stored = row.password_hash if row is not None else _DUMMY_HASH

        def verify() -> bool:
            try:
                return _hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        ok = await asyncio.to_thread(verify)
        if not ok or row is None or row.disabled:
            return None
        if _hasher.check_needs_rehash(stored):
            new_hash = await asyncio.to_thread(hash_password, password)
            async with self._sessions.begin() as session:
                await session.execute(
                    update(ConsoleUserRow).where(ConsoleUserRow.id == row.id).values(password_hash=new_hash)
                )
        return _user(row)

    async def check_password_of(self, user_id: int, password: str) -> bool:
        """Whether ``password`` is the user's (argon2, off the event loop)."""
        async with self._sessions() as session:
            stored = await session.scalar(select(ConsoleUserRow.password_hash).where(ConsoleUserRow.id == user_id))
        if stored is None:
            return False

        def verify() -> bool:
            try:
                return _hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    async def set_password(self, user_id: int, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, check_password(password))
        async with self._sessions.begin() as session:
            await session.execute(
                update(ConsoleUserRow).where(ConsoleUserRow.id == user_id).values(password_hash=hashed)
            )

    async def set_disabled(self, user: User, disabled: bool) -> User:
        """Disable (ending every session) or enable a user. The last enabled supervisor stays."""
        async with self._sessions.begin() as session:
            if disabled and user.role == "supervisor":
                await self._keep_a_supervisor(session, user)
            await session.execute(update(ConsoleUserRow).where(ConsoleUserRow.id == user.id).values(disabled=disabled))
            if disabled:
                await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == user.id))
        return dataclasses.replace(user, disabled=disabled)

    async def remove_user(self, user: User) -> None:
        """Remove a user with their sessions and tokens (the audit log keeps their name). The last
        enabled supervisor stays."""
        async with self._sessions.begin() as session:
            if user.role == "supervisor":
                await self._keep_a_supervisor(session, user)
            await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == user.id))
            await session.execute(delete(ApiTokenRow).where(ApiTokenRow.user_id == user.id))
            await session.execute(delete(ConsoleUserRow).where(ConsoleUserRow.id == user.id))

    @staticmethod
    async def _keep_a_supervisor(session: Any, user: User) -> None:
        others = await session.scalar(
            select(func.count())
            .select_from(ConsoleUserRow)
            .where(
                ConsoleUserRow.role == "supervisor", ConsoleUserRow.disabled.is_(False), ConsoleUserRow.id != user.id
            )
        )
        if not others:
            raise ConsoleError(f"{user.name!r} is the last supervisor who can sign in")

    # -- failed sign-ins -----------------------------------------------------------------------
    async def add_login_failure(self, name: str, address: str, at: datetime | None = None) -> None:
        """Count a failed sign-in (rows older than a day go at the same time)."""
        at = at or datetime.now(UTC)
        async with self._sessions.begin() as session:
            await session.execute(delete(LoginFailureRow).where(LoginFailureRow.at < at - timedelta(days=1)))
            session.add(LoginFailureRow(at=at, name=name[:64], address=address[:64]))

    async def login_failures(self, name: str, address: str, since: datetime) -> tuple[list[datetime], list[datetime]]:
        """When sign-in failed since ``since``: for this name, and from this address."""
        async with self._sessions() as session:
            by_name = (
                await session.scalars(
                    select(LoginFailureRow.at).where(LoginFailureRow.name == name[:64], LoginFailureRow.at >= since)
                )
            ).all()
            by_address = (
                await session.scalars(
                    select(LoginFailureRow.at).where(
                        LoginFailureRow.address == address[:64], LoginFailureRow.at >= since
                    )
                )
            ).all()
        return list(by_name), list(by_address)

    async def clear_login_failures(self, name: str) -> None:
        """A right password: the name's count starts again (the address's does not)."""
        async with self._sessions.begin() as session:
            await session.execute(delete(LoginFailureRow).where(LoginFailureRow.name == name[:64]))

    async def set_language(self, user_id: int, language: str) -> None:
        language = check_language(language)
        async with self._sessions.begin() as session:
            await session.execute(update(ConsoleUserRow).where(ConsoleUserRow.id == user_id).values(language=language))

    # -- sessions ------------------------------------------------------------------------------
    async def new_session(self, user: User) -> tuple[str, Session]:
        """A new session: (the cookie value, the session). Only the cookie value's SHA-256 is stored."""
        secret = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        csrf = secrets.token_urlsafe(32)
        expires = now + timedelta(hours=SESSION_HOURS)
        async with self._sessions.begin() as session:
            await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at < now))
            session.add(
                ConsoleSessionRow(
                    id_hash=digest(secret), user_id=user.id, csrf_token=csrf, created_at=now, expires_at=expires
                )
            )
        return secret, Session(user, csrf, expires)

    async def session(self, secret: str) -> Session | None:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(ConsoleSessionRow, ConsoleUserRow)
                    .join(ConsoleUserRow, ConsoleUserRow.id == ConsoleSessionRow.user_id)
                    .where(ConsoleSessionRow.id_hash == digest(secret), ConsoleUserRow.disabled.is_(False))
                )
            ).first()
        if found is None:
            return None
        row, user = found
        if row.expires_at <= datetime.now(UTC):
            return None
        return Session(_user(user), row.csrf_token, row.expires_at)

    async def end_session(self, secret: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.id_hash == digest(secret)))

    async def still_valid(self, sessions: set[str], tokens: set[int]) -> tuple[set[str], set[int]]:
        """Of these session ids (SHA-256 of the cookie) and token ids, those still valid now: not
        ended, expired or revoked, and their user neither disabled nor removed."""
        now = datetime.now(UTC)
        async with self._sessions() as session:
            live_sessions = (
                set(
                    (
                        await session.scalars(
                            select(ConsoleSessionRow.id_hash)
                            .join(ConsoleUserRow, ConsoleUserRow.id == ConsoleSessionRow.user_id)
                            .where(
                                ConsoleSessionRow.id_hash.in_(sessions),
                                ConsoleSessionRow.expires_at > now,
                                ConsoleUserRow.disabled.is_(False),
                            )
                        )
                    ).all()
                )
                if sessions
                else set()
            )
            live_tokens = (
                set(
                    (
                        await session.scalars(
                            select(ApiTokenRow.id)
                            .join(ConsoleUserRow, ConsoleUserRow.id == ApiTokenRow.user_id)
                            .where(
                                ApiTokenRow.id.in_(tokens),
                                ApiTokenRow.revoked.is_(False),
                                ConsoleUserRow.disabled.is_(False),
                            )
                        )
                    ).all()
                )
                if tokens
                else set()
            )
        return live_sessions, live_tokens

    async def end_sessions(self, user_id: int, keep: str | None = None) -> int:
        """End every session of a user (but the one whose cookie value is ``keep``); how many ended."""
        condition = ConsoleSessionRow.user_id == user_id
        if keep is not None:
            condition = condition & (ConsoleSessionRow.id_hash != digest(keep))
        async with self._sessions.begin() as session:
            result = await session.execute(delete(ConsoleSessionRow).where(condition))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- API tokens ----------------------------------------------------------------------------
    async def add_token(self, user: User, label: str) -> str:
        """A new token for ``user``; the clear text is returned once and never stored."""
        label = check_name(label)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._sessions.begin() as session:
            session.add(
                ApiTokenRow(
                    user_id=user.id,
                    label=label,
                    token_hash=digest(token),
                    prefix=token[:10],
                    created_at=datetime.now(UTC),
                    revoked=False,
                )
            )
        return token

    async def token_user(self, token: str) -> User | None:
        found = await self.token(token)
        return None if found is None else found[0]

    async def token(self, token: str) -> tuple[User, int] | None:
        """The user a token acts as, and the token's id; None when unknown, revoked or the user is disabled."""
        async with self._sessions.begin() as session:
            found = (
                await session.execute(
                    select(ApiTokenRow, ConsoleUserRow)
                    .join(ConsoleUserRow, ConsoleUserRow.id == ApiTokenRow.user_id)
                    .where(
                        ApiTokenRow.token_hash == digest(token),
                        ApiTokenRow.revoked.is_(False),
                        ConsoleUserRow.disabled.is_(False),
                    )
                )
            ).first()
            if found is None:
                return None
            found[0].last_used_at = datetime.now(UTC)
            return _user(found[1]), found[0].id

    async def tokens(self, user_id: int | None = None) -> list[Token]:
        """Every API token, or ``user_id``'s only."""
        query = select(ApiTokenRow, ConsoleUserRow.name).join(ConsoleUserRow, ConsoleUserRow.id == ApiTokenRow.user_id)
        if user_id is not None:
            query = query.where(ApiTokenRow.user_id == user_id)
        async with self._sessions() as session:
            found = (await session.execute(query.order_by(ApiTokenRow.id))).all()
        return [_token(row, name) for row, name in found]

    async def revoke_token(self, token_id: int, user_id: int | None = None) -> Token | None:
        """Revoke a token for good (None if there is no such token, or it is not ``user_id``'s when given);
        revoking twice changes nothing."""
        query = (
            select(ApiTokenRow, ConsoleUserRow.name)
            .join(ConsoleUserRow, ConsoleUserRow.id == ApiTokenRow.user_id)
            .where(ApiTokenRow.id == token_id)
        )
        if user_id is not None:
            query = query.where(ApiTokenRow.user_id == user_id)
        async with self._sessions.begin() as session:
            found = (await session.execute(query)).first()
            if found is None:
                return None
            found[0].revoked = True
            return _token(found[0], found[1])

    # -- audit ---------------------------------------------------------------------------------
    async def audit(self, actor: str, via: str, action: str, target: str, details: dict[str, Any]) -> None:
        async with self._sessions.begin() as session:
            session.add(
                AuditLogRow(
                    at=datetime.now(UTC),
                    actor=actor[:64],
                    via=via,
                    action=action[:64],
                    target=target[:128],
                    details=json.dumps(details, ensure_ascii=False),
                )
            )

    async def audit_rows(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(limit))).all()
        return [
            {
                "id": r.id,
                "at": r.at.isoformat(),
                "actor": r.actor,
                "via": r.via,
                "action": r.action,
                "target": r.target,
                "details": json.loads(r.details),
            }
            for r in rows
        ]
