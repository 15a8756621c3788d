"""The shipped systemd files, checked by systemd's own tools (R-SD-1 gate).

`systemd-analyze verify` refuses a unit whose ExecStart= binary does not exist
("Command /opt/callscribe/venv/bin/callscribe is not executable"), and `--root=` does not
help (it then also wants sysinit.target and /bin/kill inside that root).  So each test runs
on a copy of the unit whose ExecStart= points at a stub script in a temporary directory;
the drop-in examples go into `<copy>.d/`, which systemd-analyze reads next to the unit.
`--man=no` is not needed: the unit has no man: Documentation= links.

The exposure gate is R-SD-1's: `systemd-analyze security --threshold=30` (an internal
0-100 scale, i.e. exposure <= 3.0).  The base unit also may fail only the checks listed in
ACCEPTED below, each with its reason, so a regression shows up by name.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD_DIR / "callscribe.service"
EXEC = "/opt/callscribe/venv/bin/callscribe"
VARIANTS = [None, "asterisk-recordings", "gpu"]

EXPOSURE_GATE = 3.0  # R-SD-1; measured 1.4 (base), 1.4 (asterisk), 1.5 (gpu) on systemd 252

# Checks the base unit is allowed to fail, and why (see the comments in the unit).
ACCEPTED = {
    "PrivateNetwork=": "a network daemon: webhooks in, downloads and helpdesk posts out",
    "IPAddressDeny=": "helpdesk and PBX addresses are per site; an allow list is a drop-in",
    "RestrictAddressFamilies=~AF_(INET|INET6)": "same: it must speak TCP/IP",
    "RestrictAddressFamilies=~AF_UNIX": "journal, sd_notify, local PostgreSQL/AMI sockets",
    "MemoryDenyWriteExecute=": "CTranslate2's oneDNN JIT and cffi callbacks need W+X memory",
    "SystemCallFilter=~@resources": "OpenBLAS mbind(), thread affinity in the ASR runtimes",
    "PrivateUsers=": "untested with SupplementaryGroups= (systemd#41994)",
    "ProcSubset=": "the ASR runtimes read /proc/cpuinfo and /proc/meminfo",
    "RootDirectory=/RootImage=": "runs from a venv on the host",
    "DeviceAllow=": "char-rtc:r, added by ProtectClock=yes itself",
}


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        reason = "systemd-analyze not installed (install systemd to run the R-SD-1 gate)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return tool


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # No pager, no colours; the locale decides ✓/✗ versus +/-, the parser takes both.
    env = {**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)


def _unit_copy(tmp_path: Path, variant: str | None) -> Path:
    stub = tmp_path / "callscribe"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = UNIT.read_text()
    assert text.count(EXEC) == 1, f"ExecStart= no longer runs {EXEC}; update this test"
    unit = tmp_path / "callscribe.service"
    unit.write_text(text.replace(EXEC, str(stub)))
    if variant is not None:
        dropins = tmp_path / "callscribe.service.d"
        dropins.mkdir()
        shutil.copy(SYSTEMD_DIR / "examples" / f"{variant}.conf", dropins)
    return unit


@pytest.mark.parametrize("variant", VARIANTS)
def test_unit_verifies_cleanly(tmp_path: Path, variant: str | None) -> None:
    result = _run(_analyze(), "verify", str(_unit_copy(tmp_path, variant)))
    # verify exits 0 on an unknown key and only prints a warning: any output is a failure.
    output = (result.stdout + result.stderr).strip()
    print(f"systemd-analyze verify ({variant or 'base'}): rc={result.returncode} {output!r}")
    assert result.returncode == 0, output
    assert output == ""


@pytest.mark.parametrize("variant", VARIANTS)
def test_exposure_within_gate(tmp_path: Path, variant: str | None) -> None:
    tool = _analyze()
    if "--offline" not in _run(tool, "security", "--help").stdout:
        reason = "this systemd-analyze has no `security --offline` (needs systemd >= 252)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    threshold = str(round(EXPOSURE_GATE * 10))
    result = _run(
        tool,
        "security",
        "--offline=yes",
        f"--threshold={threshold}",
        str(_unit_copy(tmp_path, variant)),
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    score = float(match.group(1))
    failed = re.findall(r"^(?:✗|-) (\S+)", result.stdout, flags=re.MULTILINE)
    print(f"exposure ({variant or 'base'}): {score} {match.group(2)}; failed checks: {failed}")
    assert score <= EXPOSURE_GATE
    assert result.returncode == 0, f"--threshold={threshold} failed: {result.stderr}"
    if variant is None:
        unexpected = sorted(set(failed) - set(ACCEPTED))
        assert not unexpected, f"new exposure, harden or justify in ACCEPTED: {unexpected}"


def test_sysusers_file_parses(tmp_path: Path) -> None:
    tool = shutil.which("systemd-sysusers")
    if tool is None:
        pytest.skip("systemd-sysusers not installed")
    target = tmp_path / "usr/lib/sysusers.d"
    target.mkdir(parents=True)
    shutil.copy(SYSTEMD_DIR / "callscribe.sysusers", target / "callscribe.conf")
    result = _run(tool, f"--root={tmp_path}", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Creating user 'callscribe'" in result.stdout + result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfiles chowns to root: needs root")
def test_tmpfiles_file_creates_directories(tmp_path: Path) -> None:
    tool = shutil.which("systemd-tmpfiles")
    if tool is None:
        pytest.skip("systemd-tmpfiles not installed")
    target = tmp_path / "usr/lib/tmpfiles.d"
    target.mkdir(parents=True)
    shutil.copy(SYSTEMD_DIR / "callscribe.tmpfiles", target / "callscribe.conf")
    result = _run(tool, f"--root={tmp_path}", "--create")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "etc/callscribe").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "etc/credstore").stat().st_mode & 0o777 == 0
