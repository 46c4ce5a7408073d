"""``hotline`` sub-commands for the supervisor console's users and API tokens.

    hotline user add NAME --role supervisor|viewer [--language ar|en|hi] [--password-stdin]
    hotline user add NAME --role agent --person ID  an agent or doctor: their own desk (ID: a person of the profile)
    hotline user add NAME --role supervisor --person ID  a supervisor with their own phone (ID: a supervisor of the
                                                profile), rung to listen to a live call
    hotline user list
    hotline user disable|enable|remove NAME     ends the user's sessions; the last supervisor stays
    hotline user password NAME [--password-stdin]   sets a new password and ends the user's sessions
    hotline token add USER [--label LABEL]      prints a new API token once (acting as USER, with USER's role)
    hotline token list | revoke ID
    hotline token revoke --user NAME            revokes every active token of NAME (a lost laptop, a leaver)

Every change is written to the audit log as "cli". A running service closes the live feeds of a
user or token ended here within 30 s.

There is no default user and no default password: the first supervisor is made here. Without
``--password-stdin`` the password is asked twice on the terminal (not echoed).

Wiring (in ``hotline/cli.py``): ``add_commands(subparsers)``; each command sets its
``func(args, settings, out=None, err=None, stdin=None) -> int`` (``set_defaults``), which the root calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import getpass
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from console.db import ConsoleStore, User

__all__ = ["COMMANDS", "add_commands", "run"]

COMMANDS = ("user", "token")


def add_commands(subparsers: Any) -> None:
    user = subparsers.add_parser("user", help="supervisor console users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="add a console user (asks for the password twice)")
    add.add_argument("name")
    add.add_argument("--role", choices=("supervisor", "viewer", "agent"), required=True)
    add.add_argument("--language", choices=("ar", "en", "hi"), default="en")
    add.add_argument(
        "--person",
        help="an agent's person id in the profile (the calls their desk shows); a supervisor's own phone (optional)",
    )
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(func=_user_add_command)
    user_commands.add_parser("list", help="list the console users").set_defaults(func=_user_list_command)
    for action, text in (
        ("disable", "disable a user: no sign-in, sessions and tokens stop working"),
        ("enable", "enable a disabled user again"),
        ("remove", "remove a user with their sessions and tokens (the audit log keeps the name)"),
    ):
        change = user_commands.add_parser(action, help=text)
        change.add_argument("name")
        change.set_defaults(func=_user_change_command, action=action)
    password = user_commands.add_parser("password", help="set a user's password (asks twice); ends their sessions")
    password.add_argument("name")
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    password.set_defaults(func=_user_password_command)
    token = subparsers.add_parser("token", help="API tokens for automation (Authorization: Bearer …)")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_add = token_commands.add_parser("add", help="create a token acting as USER; printed once")
    token_add.add_argument("name", metavar="USER")
    token_add.add_argument("--label", default="cli")
    token_add.set_defaults(func=_token_add_command)
    token_commands.add_parser("list", help="list the API tokens (never their clear text)").set_defaults(
        func=_token_list_command
    )
    revoke = token_commands.add_parser("revoke", help="revoke an API token (or every one of a user's) for good")
    revoke.add_argument("id", type=int, nargs="?")
    revoke.add_argument("--user", help="revoke every active token of this user instead")
    revoke.set_defaults(func=_token_revoke_command)


Command = Callable[[argparse.Namespace, str, TextIO, TextIO, TextIO], int]


def _command(run: Command) -> Callable[..., int]:
    """``run`` as a command: ``func(args, settings, out=None, err=None, stdin=None)``. The schema
    is migrated first; a refusal of the console store is told on ``err`` with exit code 1."""

    @functools.wraps(run)
    def command(
        args: argparse.Namespace,
        settings: Any,
        out: TextIO | None = None,
        err: TextIO | None = None,
        stdin: TextIO | None = None,
    ) -> int:
        from console.db import ConsoleError
        from storage.engine import upgrade

        err = err or sys.stderr
        try:
            upgrade(settings.db_url)
            return run(args, settings.db_url, out or sys.stdout, err, stdin or sys.stdin)
        except ConsoleError as exc:
            print(f"hotline {args.command}: {exc}", file=err)
            return 1

    return command


def _password(args: argparse.Namespace, stdin: TextIO, err: TextIO) -> str | None:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    second = getpass.getpass("again: ")
    if first != second:
        print("hotline user: the passwords differ", file=err)
        return None
    return first


@contextlib.asynccontextmanager
async def _opened(url: str) -> AsyncIterator[ConsoleStore]:
    from console.db import ConsoleStore

    store = ConsoleStore(url)
    try:
        yield store
    finally:
        await store.close()


async def _named_user(store: ConsoleStore, args: argparse.Namespace, err: TextIO, hint: str = "") -> User | None:
    user = await store.user_by_name(args.name)
    if user is None:
        print(f"hotline {args.command}: no user named {args.name!r}{hint}", file=err)
    return user


def _people(args: argparse.Namespace, settings: Any) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The profile's person ids and supervisors' phones, to check a ``--person`` (None when none is given)."""
    from console.db import ConsoleError
    from profiles.model import ProfileError, load_profile

    if args.role not in ("agent", "supervisor") or args.person is None:
        return None, None
    try:
        profile = load_profile(settings.profile_path)
    except ProfileError as exc:
        raise ConsoleError(f"cannot read the profile to check --person: {exc}") from None
    return frozenset(p.id for p in profile.people), frozenset(s.id for s in profile.supervisors)


async def _user_add(args: argparse.Namespace, url: str, password: str, out: TextIO) -> None:
    async with _opened(url) as store:
        user = await store.add_user(
            args.name,
            password,
            args.role,
            args.language,
            person=args.person,
            people=args.people,
            supervisors=args.supervisors,
        )
        details = {"role": user.role, "language": user.language}
        if user.person is not None:
            details["person"] = user.person
        await store.audit("cli", "cli", "user.add", user.name, details)
        print(f"user {user.name!r} added ({user.role}{', ' + user.person if user.person else ''})", file=out)


async def _user_list(url: str, out: TextIO) -> None:
    async with _opened(url) as store:
        for user in await store.users():
            person = f"\t{user.person}" if user.person else ""
            print(f"{user.name}\t{user.role}\t{user.language}{person}", file=out)


async def _token_add(args: argparse.Namespace, url: str, out: TextIO, err: TextIO) -> int:
    async with _opened(url) as store:
        user = await _named_user(store, args, err, f" (hotline user add {args.name} --role …)")
        if user is None:
            return 1
        token = await store.add_token(user, args.label)
        await store.audit("cli", "cli", "token.add", user.name, {"label": args.label, "prefix": token[:10]})
        print(token, file=out)
        return 0


async def _user_change(args: argparse.Namespace, url: str, out: TextIO, err: TextIO) -> int:
    async with _opened(url) as store:
        user = await _named_user(store, args, err)
        if user is None:
            return 1
        if args.action == "remove":
            await store.remove_user(user)
        else:
            await store.set_disabled(user, args.action == "disable")
        await store.audit("cli", "cli", f"user.{args.action}", user.name, {})
        print(f"user {user.name!r}: {args.action}d", file=out)
        return 0


async def _user_password(args: argparse.Namespace, url: str, password: str, out: TextIO, err: TextIO) -> int:
    async with _opened(url) as store:
        user = await _named_user(store, args, err)
        if user is None:
            return 1
        await store.set_password(user.id, password)
        ended = await store.end_sessions(user.id)
        await store.audit("cli", "cli", "user.password", user.name, {"sessions_ended": ended})
        print(f"user {user.name!r}: password set, {ended} sessions ended", file=out)
        return 0


async def _token_list(url: str, out: TextIO) -> None:
    async with _opened(url) as store:
        for t in await store.tokens():
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never used"
            state = "revoked" if t.revoked else "active"
            print(f"{t.id}\t{t.user}\t{t.label}\t{t.prefix}…\t{state}\t{used}", file=out)


async def _token_revoke(args: argparse.Namespace, url: str, out: TextIO, err: TextIO) -> int:
    if (args.id is None) == (args.user is None):
        print("hotline token revoke: give a token ID or --user NAME (one of them)", file=err)
        return 2
    if args.user is not None:
        return await _token_revoke_all(args.user, url, out, err)
    async with _opened(url) as store:
        token = await store.revoke_token(args.id)
        if token is None:
            print(f"hotline token: no token {args.id}", file=err)
            return 1
        await store.audit("cli", "cli", "token.revoke", token.user, {"id": token.id, "label": token.label})
        print(f"token {token.id} of {token.user!r} ({token.label}) revoked", file=out)
        return 0


async def _token_revoke_all(name: str, url: str, out: TextIO, err: TextIO) -> int:
    async with _opened(url) as store:
        user = await store.user_by_name(name)
        if user is None:
            print(f"hotline token: no user named {name!r}", file=err)
            return 1
        revoked = [t for t in await store.tokens(user.id) if not t.revoked]
        for token in revoked:
            await store.revoke_token(token.id)
            await store.audit("cli", "cli", "token.revoke", user.name, {"id": token.id, "label": token.label})
        print(f"{len(revoked)} tokens of {user.name!r} revoked", file=out)
        return 0


@_command
def _user_change_command(args: argparse.Namespace, url: str, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    return asyncio.run(_user_change(args, url, out, err))


@_command
def _user_password_command(args: argparse.Namespace, url: str, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    password = _password(args, stdin, err)
    if password is None:
        return 1
    return asyncio.run(_user_password(args, url, password, out, err))


@_command
def _token_list_command(args: argparse.Namespace, url: str, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    asyncio.run(_token_list(url, out))
    return 0


@_command
def _token_revoke_command(args: argparse.Namespace, url: str, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    return asyncio.run(_token_revoke(args, url, out, err))


def _user_add_command(
    args: argparse.Namespace,
    settings: Any,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """``hotline user add``: an agent's person id is checked against the profile before the password is asked."""
    from console.db import ConsoleError, check_person

    try:
        args.people, args.supervisors = _people(args, settings)
        check_person(args.role, args.person, args.people, args.supervisors)
    except ConsoleError as exc:
        print(f"hotline {args.command}: {exc}", file=err or sys.stderr)
        return 1
    return _user_add_checked(args, settings, out, err, stdin)


@_command
def _user_add_checked(args: argparse.Namespace, url: str, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    password = _password(args, stdin, err)
    if password is None:
        return 1
    asyncio.run(_user_add(args, url, password, out))
    return 0


@_command
def _user_list_command(args: argparse.Namespace, url: str, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    asyncio.run(_user_list(url, out))
    return 0


@_command
def _token_add_command(args: argparse.Namespace, url: str, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    return asyncio.run(_token_add(args, url, out, err))


def run(
    args: argparse.Namespace,
    settings: Any,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int | None:
    """Run ``args.func`` when ``args.command`` is one of ours (for tests and callers that embed
    these commands); None otherwise. Returns the exit code."""
    if getattr(args, "command", None) not in COMMANDS:
        return None
    return args.func(args, settings, out, err, stdin)
