"""The SIP guard's fail2ban filter against Asterisk 22's own security log lines (fail2ban-regex, the real tool)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from telephony.sipguard import GuardSettings, render


def line(at: str, event: str, service: str, account: str, remote: str, extra: str = "") -> str:
    """One line of Asterisk 22's security log, as res_security_log writes it (the fields of a real one)."""
    return (
        f'[2026-12-02 {at}] SECURITY[24018] res_security_log.c: SecurityEvent="{event}",'
        f'EventTV="2026-12-02T{at}+0000",Severity="Error",Service="{service}",EventVersion="1",'
        f'AccountID="{account}",SessionID="1-24107@x",LocalAddress="IPV4/UDP/127.0.0.1/29735",'
        f'RemoteAddress="IPV4/{remote}"{extra}\n'
    )


LINES = "".join(
    [
        line("17:24:47.189", "SuccessfulAuth", "AMI", "hotline", "TCP/127.0.0.1/56060", ',UsingPassword="0"'),
        line("17:24:47.486", "ChallengeSent", "PJSIP", "agent-ar-1", "UDP/127.0.0.55/31141", ',Challenge=""'),
        line("17:24:47.490", "ChallengeResponseFailed", "PJSIP", "agent-ar-1", "UDP/127.0.0.55/31141",
             ',Challenge="1796232287/d7dc",ReceivedChallenge="1796232287/d7dc",ReceivedHash="abc"'),
        line("17:24:48.001", "InvalidAccountID", "PJSIP", "admin", "UDP/203.0.113.9/5060"),
        line("17:24:49.001", "SuccessfulAuth", "PJSIP", "agent-ar-1", "UDP/127.0.0.1/5062", ',UsingPassword="1"'),
    ]
)  # fmt: skip


def test_the_filter_catches_failed_authentications_and_nothing_else(tmp_path: Path) -> None:
    if shutil.which("fail2ban-regex") is None:
        pytest.skip("fail2ban is not installed here (make deps installs it; CI has it)")
    log = tmp_path / "security"
    log.write_text(LINES, encoding="utf-8")
    settings = GuardSettings("t", 5060, log, ("127.0.0.1",))
    filter_file = tmp_path / "hotline-sip.conf"
    filter_file.write_text(render(settings, tmp_path)["filter.d/hotline-sip.conf"], encoding="utf-8")
    out = subprocess.run(
        ["fail2ban-regex", "--print-all-matched", str(log), str(filter_file)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert re.search(r"Lines: 5 lines, 0 ignored, 2 matched, 3 missed", out), out
    assert "127.0.0.55" in out and "203.0.113.9" in out  # the wrong password and the unknown account


def test_the_jail_bans_on_the_instances_port_never_the_trunk_and_its_table_is_the_instances() -> None:
    files = render(GuardSettings("e2e-7", 5099, Path("/x/security"), ("10.0.0.5", "192.0.2.0/24"), 3), Path("/c"))
    jail = files["jail.conf"]
    assert "maxretry = 3" in jail and "logpath = /x/security" in jail
    assert "ignoreip = 10.0.0.5 192.0.2.0/24" in jail
    assert 'action = hotline-nft[table="hotline_e2e_7", port="5099"]' in jail
    assert "actionstart_on_demand = false" in files["action.d/hotline-nft.conf"]
