"""The ``hotline`` command: the composition root of the whole thing.

hotline run                      Asterisk and the service, in the foreground (Ctrl-C stops both)
hotline asterisk start           only Asterisk, in the foreground
hotline serve                    only the service, against a running Asterisk instance
hotline asterisk cli             Asterisk's console on the running instance
hotline phones                   the SIP accounts of the agent and doctor phones
hotline agent login|logout|pause|unpause ID     what agents do with *41-*44, from the service
hotline seats QUEUE N            a queue's seats for the current shift, live
hotline block add|remove|list    the block list of nuisance callers, live (audited as the local admin)
hotline provision [--refresh]    build the Asterisk root and the prompts (cached)
hotline simulate --callers N --agents M
hotline records [--limit N]      print the latest call records
hotline records check --from D   the store against Asterisk's Master.csv for a time range (cdr/cli.py)
hotline profile check [PATH]     validate a profile
hotline db upgrade               migrate the records database
hotline report / staffing / generate-records / import-records   reports and staffing (cdr/cli.py)
hotline cases report / synthetic              cases per category, synthetic 940 cases (cases/cli.py)
hotline user add|list / token add             supervisor console users and API tokens (console/cli.py)
hotline survey report                         caller satisfaction per topic, agent, interval (survey/cli.py)
hotline campaign import|lists / dnc add|remove|list   contact lists and the do-not-call list (outbound/cli.py)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

from cases import cli as case_commands
from cdr import cli as report_commands
from console import cli as console_commands
from hotline.bootstrap import asterisk_plan
from hotline.process import configure_logging, until_signalled
from hotline.settings import Settings, SettingsError
from hotline.supervisor import SupervisorError
from outbound import cli as outbound_commands
from profiles.model import Profile, ProfileError, load_profile
from survey import cli as survey_commands
from telephony.asterisk import AsteriskError, AsteriskInstance
from telephony.prompts import PromptError
from telephony.provision import ProvisionError, current_root, ensure_root

log = logging.getLogger("hotline")


def _instance(settings: Settings) -> AsteriskInstance:
    return AsteriskInstance(ensure_root(settings.cache_dir), settings)


def _service_dir(settings: Settings, instance: AsteriskInstance) -> Path:
    """The service's own folder (token for local tools, records spool): root's runs hand
    ``settings.service_dir`` to the service user; a run without root keeps it in the instance folder."""
    return settings.service_dir if os.geteuid() == 0 else instance.host_dir


def _service_config(settings: Settings, profile: Profile, instance: AsteriskInstance):
    from callbacks.service import Faults
    from hotline.service import ServiceConfig

    service_dir = _service_dir(settings, instance)
    service_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return ServiceConfig(
        settings,
        profile,
        instance.credentials(),
        f"{instance.inside}/sounds",
        service_dir / "service-token",
        instance.sounds_dir,
        spool_dir=service_dir / "record-spool",
        prompt_cache=service_dir / "prompt-cache",
        asterisk_log_dir=instance.host_dir / "log",
        faults=Faults(crash_after_claim=settings.test_crash_after_claim),
    )


async def _serve_as_user(
    settings: Settings,
    config: Any,
    instance: AsteriskInstance,
    stop: asyncio.Event,
    *,
    restart: bool,
    verbose: bool = False,
) -> int:
    """Root's part: hand the service its folders, then run it as ``settings.service_user`` until ``stop``.
    ``hotline run`` (``restart``) starts it again when it dies and stops it when Asterisk dies; ``hotline
    serve`` ends with it. Returns the service's exit code (0 when asked to stop)."""
    from hotline import supervisor

    assert settings.service_user is not None
    owner = instance.run_as()
    account = supervisor.Account.lookup(settings.service_user, (owner.gid,) if owner else ())
    service_dir = settings.service_dir
    supervisor.prepare_folders(account, settings.state_dir, service_dir, settings.db_url)
    supervisor.prepare_instance(instance.host_dir, account, owner.gid if owner else None)
    paths = await asyncio.to_thread(supervisor.runtime_paths, account, settings.state_dir)
    process = instance.process
    died: asyncio.Future[Any] = (
        asyncio.ensure_future(process.wait()) if restart and process is not None else asyncio.Future()
    )
    child = supervisor.ServiceChild(config, account, service_dir, paths, verbose=verbose)
    try:
        code = await supervisor.supervise(child, stop, died, restart=restart)
    finally:
        died.cancel()
    if died.done() and not died.cancelled():
        log.error("Asterisk exited (%s); the service is stopped", process.returncode if process else "?")
    return code


def _service_user(settings: Settings) -> bool:
    """Whether the service runs as its own user: when root starts it, unless HOTLINE_SERVICE_USER=root."""
    if os.geteuid() != 0:
        return False
    if not settings.service_user:
        log.warning("HOTLINE_SERVICE_USER=root: the service runs as root (not recommended)")
        return False
    return True


async def _run(settings: Settings, profile: Profile, with_service: bool) -> None:
    from hotline.service import serve

    instance = _instance(settings)
    instance.prepare(profile, asterisk_plan(profile))
    await instance.start()
    guard = await _start_sip_guard(settings, instance)
    print(
        f"Asterisk is up: call sip:{profile.number}@{settings.sip_host}:{settings.sip_port} "
        f"(console: hotline asterisk cli)",
        flush=True,
    )

    async def work(stop: asyncio.Event) -> None:
        if with_service and _service_user(settings):
            config = _service_config(settings, profile, instance)
            await _serve_as_user(settings, config, instance, stop, restart=True)
        elif with_service:
            await serve(_service_config(settings, profile, instance), _StopOnExit(stop, instance))
        else:
            await _StopOnExit(stop, instance).wait()

    try:
        await until_signalled(work)
    finally:
        print("stopping…", flush=True)
        if guard is not None:
            await guard.stop()
        await instance.stop()


async def _start_sip_guard(settings: Settings, instance: AsteriskInstance) -> Any:
    """Root's run: fail2ban bans a source after ``sip_ban_after`` failed SIP authentications (telephony.sipguard).
    None (and said) when it cannot run: not root, turned off, or fail2ban/nftables not installed."""
    from telephony import sipguard

    if settings.sip_ban_after == 0:
        log.warning("SIP guard off (HOTLINE_SIP_BAN_AFTER=0): password guessing against the phones is not banned")
        return None
    if os.geteuid() != 0 or not sipguard.available():
        why = "not root" if os.geteuid() != 0 else "fail2ban or nftables is not installed (make deps installs them)"
        log.warning("SIP guard off (%s): password guessing against the phones is not banned", why)
        return None
    guard = sipguard.SipGuard(
        sipguard.GuardSettings(
            instance=settings.instance,
            sip_port=settings.sip_port,
            security_log=instance.host_dir / "log" / "security",
            ignore=settings.trunk_match,
            ban_after=settings.sip_ban_after,
        ),
        instance.host_dir / "fail2ban",
    )
    try:
        await guard.start()
    except (OSError, RuntimeError) as exc:  # the hotline answers calls all the same: said loudly, not fatal
        log.error("SIP guard off: fail2ban could not start (%s); password guessing against the phones is not banned",
                  exc)  # fmt: skip
        return None
    return guard


class _StopOnExit:
    """Set when asked to stop, or when Asterisk dies under us: nothing runs half-configured."""

    def __init__(self, stop: asyncio.Event, instance: AsteriskInstance):
        self._stop = stop
        self._instance = instance

    async def wait(self) -> bool:
        process = self._instance.process
        assert process is not None
        died = asyncio.create_task(process.wait())
        asked = asyncio.create_task(self._stop.wait())
        done, pending = await asyncio.wait({died, asked}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if died in done:
            log.error("Asterisk exited (%s); stopping the service", process.returncode)
        return True


async def _serve(settings: Settings, profile: Profile, verbose: bool) -> int:
    from hotline.service import serve

    instance = _instance(settings)
    config = _service_config(settings, profile, instance)
    if _service_user(settings):
        codes: list[int] = []

        async def as_user(stop: asyncio.Event) -> None:
            codes.append(await _serve_as_user(settings, config, instance, stop, restart=False, verbose=verbose))

        await until_signalled(as_user)
        return codes[0] if codes else 0
    await until_signalled(lambda stop: serve(config, stop))
    return 0


async def _records(settings: Settings, limit: int) -> None:
    from cdr.db import RecordStore
    from storage.engine import upgrade

    upgrade(settings.db_url)
    store = RecordStore(settings.db_url)
    try:
        records = await store.list_records()
    finally:
        await store.close()
    print(f"{len(records)} records in {settings.db_url}")
    for r in records[-limit:]:
        wait = "" if r.wait_seconds is None else f"{r.wait_seconds:.1f}s"
        talk = "" if r.talk_seconds is None else f"{r.talk_seconds:.1f}s"
        print(
            f"{r.started_at:%Y-%m-%d %H:%M:%S}  {r.caller_number or '-':<14} {r.caller_name or '-':<16} "
            f"{r.language or '-':<3} {r.queue or '-':<24} {r.outcome.value:<16} {r.agent or '-':<14} "
            f"wait {wait:<7} talk {talk:<7} cause {r.hangup_cause}"
        )


ADMIN_TIMEOUT_SECONDS = 15


def _admin_token(settings: Settings) -> str | None:
    """The token the running service wrote for local tools, or None when it is not running.
    Nothing is provisioned to find it: without an Asterisk root there is no running service."""
    root = current_root(settings.cache_dir)
    if root is None:
        return None
    try:
        return (_service_dir(settings, AsteriskInstance(root, settings)) / "service-token").read_text().strip() or None
    except OSError:
        return None


def _admin_call(settings: Settings, method: str, path: str, body: dict[str, Any] | None) -> int:
    """Call the running service's API (``/api/v1``) with the local admin token; print its answer."""
    import json
    import urllib.error
    import urllib.request

    token = _admin_token(settings)
    if token is None:
        print("hotline: the service is not running (no admin token); start it with 'make run'", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.http_port}/api/v1{path}", data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT_SECONDS) as response:
            print(response.read().decode())
            return 0
    except urllib.error.HTTPError as exc:
        print(f"hotline: {_api_error(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"hotline: cannot reach the service: {exc}", file=sys.stderr)
        return 2


def _api_error(exc: Any) -> str:
    """The API's own message (``{"error": ...}``), else the HTTP status."""
    import json

    try:
        message = json.loads(exc.read() or b"{}").get("error")
    except (ValueError, AttributeError, OSError):
        message = None
    return str(message) if message else f"HTTP {exc.code} {exc.reason}"


# -- the commands: each one is func(args, settings) -> exit code --------------------------------------


def _profile_check(args: argparse.Namespace, settings: Settings) -> int:
    from telephony.prompts import check_profile_recordings

    profile = load_profile(args.path or settings.profile_path)
    recordings = check_profile_recordings(profile)  # a recorded prompt that would play as silence or noise
    if recordings:
        print(f"{profile.source}: {len(recordings)} recorded prompts cannot be used:", file=sys.stderr)
        for problem in recordings:
            print(f"  {problem}", file=sys.stderr)
        return 2  # as for any other problem of the profile
    print(
        f"{profile.source}: ok — {profile.name}, number {profile.number}, "
        f"{len(profile.languages)} languages, {len(profile.topics)} topics, {len(profile.people)} people"
    )
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage.engine import upgrade

    upgrade(settings.db_url)
    print(f"{settings.db_url}: schema is current")
    return 0


def _records_command(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_records(settings, args.limit))
    return 0


def _provision(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.menu import prompt_plan
    from telephony.prompts import install_prompts

    profile = load_profile(settings.profile_path)
    root = ensure_root(settings.cache_dir, refresh=args.refresh)
    installed = install_prompts(
        prompt_plan(profile), settings.cache_dir / "prompts", settings.cache_dir / "prompt-check"
    )
    print(f"Asterisk root: {root}\n{len(installed)} prompts ready")
    return 0


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_run(settings, load_profile(settings.profile_path), with_service=True))
    return 0


def _serve_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_serve(settings, load_profile(settings.profile_path), args.verbose))


def _asterisk_start(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_run(settings, load_profile(settings.profile_path), with_service=False))
    return 0


def _asterisk_cli(args: argparse.Namespace, settings: Settings) -> NoReturn:
    command = _instance(settings).console_command()
    os.execvp(command[0], command)


def _pause_reason(text: str) -> str:
    """A pause reason as the API takes it: 1 to 64 printable characters (no CR/LF: it goes into AMI)."""
    if not text.strip() or len(text) > 64 or not text.isprintable():
        raise argparse.ArgumentTypeError("a pause reason is 1 to 64 printable characters")
    return text.strip()


def _agent(args: argparse.Namespace, settings: Settings) -> int:
    body = {"reason": args.reason} if args.action == "pause" else None
    return _admin_call(settings, "POST", f"/agents/{quote(args.person, safe='')}/{args.action}", body)


def _seats(args: argparse.Namespace, settings: Settings) -> int:
    return _admin_call(settings, "PUT", f"/queues/{quote(args.queue, safe='')}/seats", {"seats": args.seats})


# The block list goes through the running service (its view at call start is refreshed; the change audited).
def _block_add(args: argparse.Namespace, settings: Settings) -> int:
    body = {"number": args.number, "reason": args.reason, "expires_at": args.until}
    return _admin_call(settings, "POST", "/screening/blocks", body)


def _block_remove(args: argparse.Namespace, settings: Settings) -> int:
    return _admin_call(settings, "DELETE", f"/screening/blocks/{quote(args.number, safe='')}", None)


def _block_list(args: argparse.Namespace, settings: Settings) -> int:
    return _admin_call(settings, "GET", f"/screening/blocks?state={'past' if args.past else 'current'}", None)


def _phones(args: argparse.Namespace, settings: Settings) -> int:
    profile = load_profile(settings.profile_path)
    phones = _instance(settings).credentials().phones
    print(f"SIP server {settings.sip_host}:{settings.sip_port} (UDP); passwords change at every start")
    for person in profile.people:
        print(f"{person.kind:<7} {person.id:<16} password {phones.get(person.id, '?'):<24} {person.name}")
    for supervisor in profile.supervisors:  # their own phones, rung when they listen to a live call
        print(f"{'super':<7} {supervisor.id:<16} password {phones.get(supervisor.id, '?'):<24} {supervisor.name}")
    return 0


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.simulate import simulate

    profile = load_profile(settings.profile_path)
    return asyncio.run(simulate(settings, profile, args.callers, args.agents, args.talk_seconds, args.seed))


def build_parser() -> argparse.ArgumentParser:
    """Every command, each with its ``func(args, settings) -> int`` (``set_defaults(func=...)``)."""
    parser = argparse.ArgumentParser(prog="hotline", description="IVR and call routing for public-service hotlines")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start Asterisk and the hotline service in the foreground").set_defaults(
        func=_run_command
    )
    commands.add_parser("serve", help="start only the service, against a running Asterisk instance").set_defaults(
        func=_serve_command
    )
    asterisk = commands.add_parser("asterisk", help="Asterisk itself")
    asterisk_commands = asterisk.add_subparsers(dest="asterisk_command", required=True)
    asterisk_commands.add_parser(
        "start", help="render the configuration and run Asterisk in the foreground"
    ).set_defaults(func=_asterisk_start)
    asterisk_commands.add_parser("cli", help="open Asterisk's console on the running instance").set_defaults(
        func=_asterisk_cli
    )
    commands.add_parser(
        "phones", help="print the SIP accounts of the agent and doctor phones (running instance)"
    ).set_defaults(func=_phones)
    agent = commands.add_parser("agent", help="log a person in or out, pause or unpause (running service)")
    agent.add_argument("action", choices=["login", "logout", "pause", "unpause"])
    agent.add_argument("person")
    agent.add_argument("--reason", type=_pause_reason, default="supervisor", help="the pause reason (with pause)")
    agent.set_defaults(func=_agent)
    seats = commands.add_parser("seats", help="change a queue's seats for the current shift (running service)")
    seats.add_argument("queue")
    seats.add_argument("seats", type=int)
    seats.set_defaults(func=_seats)
    block = commands.add_parser("block", help="the block list of nuisance callers (running service)")
    block_commands = block.add_subparsers(dest="block_command", required=True)
    block_add = block_commands.add_parser("add", help="block a number with a reason (and an expiry)")
    block_add.add_argument("number")
    block_add.add_argument("--reason", required=True)
    block_add.add_argument("--until", help="when the block ends: ISO time with a zone (default: never)")
    block_add.set_defaults(func=_block_add)
    block_remove = block_commands.add_parser("remove", help="end a number's block")
    block_remove.add_argument("number")
    block_remove.set_defaults(func=_block_remove)
    block_list = block_commands.add_parser("list", help="the numbers blocked now (--past: the blocks that ended)")
    block_list.add_argument("--past", action="store_true")
    block_list.set_defaults(func=_block_list)
    provision = commands.add_parser("provision", help="build the Asterisk root and the prompts (cached)")
    provision.add_argument("--refresh", action="store_true", help="rebuild the Asterisk root")
    provision.set_defaults(func=_provision)
    simulate = commands.add_parser("simulate", help="SIPp callers and agent phones against the running hotline")
    simulate.add_argument("--callers", type=int, default=6)
    simulate.add_argument("--agents", type=int, default=4)
    simulate.add_argument("--talk-seconds", type=float, default=3.0)
    simulate.add_argument("--seed", type=int, default=151)
    simulate.set_defaults(func=_simulate)
    records = commands.add_parser("records", help="print the latest call records; check: the store against Master.csv")
    records.add_argument("--limit", type=int, default=20)
    records.set_defaults(func=_records_command)
    report_commands.add_records_actions(records.add_subparsers(dest="records_action"))
    profile_cmd = commands.add_parser("profile", help="profiles")
    profile_commands = profile_cmd.add_subparsers(dest="profile_command", required=True)
    check = profile_commands.add_parser("check", help="validate a profile")
    check.add_argument("path", nargs="?")
    check.set_defaults(func=_profile_check)
    db = commands.add_parser("db", help="the records database")
    db.add_subparsers(dest="db_command", required=True).add_parser(
        "upgrade", help="migrate to the latest schema"
    ).set_defaults(func=_db_upgrade)
    report_commands.add_commands(commands)
    case_commands.add_commands(commands)
    console_commands.add_commands(commands)
    survey_commands.add_commands(commands)
    outbound_commands.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return args.func(args, Settings.from_env())
    except (ProfileError, SettingsError, ProvisionError, PromptError, AsteriskError, SupervisorError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
