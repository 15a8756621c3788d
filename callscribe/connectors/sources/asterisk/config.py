"""``[sources.NAME]`` with ``type = "asterisk"``: where AMI is, which folders recordings may
be read from, and how a call's direction is told from its dialplan contexts."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator

from callscribe.config.base import ConfigPath, SecretValue
from callscribe.connectors.settings import SourceSettings

# FreePBX (and Issabel, VitalPBX, which are built on it) route calls from trunks through
# from-trunk / from-pstn (ext-did after them) and calls from phones through from-internal.
FREEPBX_INBOUND = ("from-trunk", "from-pstn", "from-did-direct", "ext-did", "ext-did-0001",
                   "ext-did-0002", "from-external")  # fmt: skip
FREEPBX_INTERNAL = ("from-internal", "from-internal-xfer", "from-internal-noxfer",
                    "ext-local")  # fmt: skip

# cdr_csv's Master.csv with loguniqueid = yes and loguserfield = yes (cdr_csv.c's order).
CDR_CSV_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
                   "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
                   "disposition", "amaflags", "uniqueid", "userfield")  # fmt: skip


class AsteriskSourceConfig(SourceSettings):
    """Asterisk, FreePBX, Issabel or VitalPBX through the Asterisk Manager Interface."""

    model_config = ConfigDict(hide_input_in_errors=True)

    type: Literal["asterisk"]
    host: str = Field("127.0.0.1", min_length=1, description="AMI host (manager.conf bindaddr).")
    port: int = Field(5038, ge=1, le=65535, description="AMI port (5038; 5039 for AMI over TLS).")
    username: str = Field(min_length=1, description="The manager.conf user, e.g. 'callscribe'.")
    secret: SecretValue = Field(
        description="That user's secret (use credential:NAME or file:PATH, not the value)."
    )
    auth: Literal["md5", "plain"] = Field(
        "md5",
        description="'md5': log in with a challenge, the secret never crosses the network; "
        "'plain': send the secret (only over TLS or loopback).",
    )
    tls: bool = Field(False, description="Connect with TLS (manager.conf [general] tlsenable).")
    tls_ca: ConfigPath | None = Field(
        None, description="CA bundle that signed Asterisk's AMI certificate; default: the system's."
    )
    tls_verify: bool = Field(
        True, description="Check Asterisk's certificate and host name (turn off only for tests)."
    )
    recordings: tuple[ConfigPath, ...] = Field(
        min_length=1,
        description="Folders recordings may be read from on this machine, e.g. "
        "['/var/spool/asterisk/monitor']; a path from AMI outside them is refused.",
    )
    path_map: dict[str, str] = Field(
        default_factory=dict,
        description="Asterisk's path prefix -> this machine's, when the spool is mounted "
        "elsewhere, e.g. {'/var/spool/asterisk/monitor' = '/mnt/pbx-monitor'}.",
    )
    monitor_dir: str = Field(
        "/var/spool/asterisk/monitor",
        description="Asterisk's own monitor folder (astspooldir/monitor), which MixMonitor's "
        "relative file names are relative to.",
    )
    leg_suffixes: tuple[str, str] = Field(
        ("-rx", "-tx"),
        description="How the r() and t() leg files of a recording found without AMI end "
        "(before the extension): what the recorded channel sent, and what it heard.",
    )
    recording_settle_seconds: float = Field(
        2.0, ge=0.0, description="A recording is complete once unchanged this long."
    )
    recording_wait_seconds: float = Field(
        600.0,
        gt=0.0,
        description="Give up on a recording that is missing or still growing this long after "
        "the call ended (the call then fails with the reason).",
    )
    raw_stereo: bool = Field(
        True,
        description="Headerless .raw/.sln recordings whose MixMonitor options were not seen "
        "are MixMonitor 'D' interleaved stereo (false: mono).",
    )
    inbound_contexts: tuple[str, ...] = Field(
        FREEPBX_INBOUND,
        description="Dialplan contexts that calls from outside enter (the trunks' context).",
    )
    internal_contexts: tuple[str, ...] = Field(
        FREEPBX_INTERNAL,
        description="Contexts of calls placed by your own phones: outbound when the number "
        "dialled is longer than extension_max_digits, internal otherwise.",
    )
    extension_max_digits: int = Field(
        5, ge=1, le=15, description="Longest internal extension; longer numbers are outside."
    )
    ping_seconds: float = Field(10.0, gt=0.0, description="How often the AMI link is checked.")
    ping_timeout_seconds: float = Field(
        20.0,
        gt=0.0,
        description="No answer to a Ping this long: the link is dead (half-open), reconnect.",
    )
    login_timeout_seconds: float = Field(
        5.0, gt=0.0, description="Connecting and logging in must finish within this."
    )
    reconnect_min_seconds: float = Field(
        1.0, gt=0.0, description="First wait before reconnecting; doubled after each failure."
    )
    reconnect_max_seconds: float = Field(60.0, gt=0.0, description="Longest wait between tries.")
    login_retry_seconds: float = Field(
        60.0,
        gt=0.0,
        description="After three refused logins, at most one try this often (a wrong secret "
        "must not hammer Asterisk or fill its security log).",
    )
    cdr_wait_seconds: float = Field(
        2.0,
        ge=0.0,
        description="After a call's last channel hung up, wait this long for its late Cdr "
        "events (cdr_manager) before reporting it.",
    )
    stale_call_hours: float = Field(
        4.0,
        gt=0.0,
        description="A call with no AMI event this long (its hangup was lost) is reported "
        "with what is known.",
    )
    recover_hours: float = Field(
        24.0,
        ge=0.0,
        description="At start, look this far back in the recording folders (and CDR) for calls "
        "that ended while callscribe was not running; 0: only from the start.",
    )
    cdr_csv: ConfigPath | None = Field(
        None,
        description="Asterisk's CDR file (e.g. /var/log/asterisk/cdr-csv/Master.csv) to read "
        "the calls missed while AMI was down from; unset: recordings only.",
    )
    cdr_columns: tuple[str, ...] = Field(
        CDR_CSV_COLUMNS,
        description="Columns of cdr_csv, in order: cdr_csv's own with loguniqueid and "
        "loguserfield on; list yours for cdr_custom (add 'linkedid' when you log it).",
    )
    cdr_timezone: str | None = Field(
        None,
        description="Time zone of the CDR times (e.g. 'Europe/Moscow'); default: this "
        "machine's. Not needed when cdr.conf has usegmtime=yes: set 'UTC'.",
    )

    @field_validator("path_map")
    @classmethod
    def _absolute_prefixes(cls, mapping: dict[str, str]) -> dict[str, str]:
        for remote, local in mapping.items():
            for side in (remote, local):
                if not PurePosixPath(side).is_absolute() or ".." in PurePosixPath(side).parts:
                    raise ValueError(f"{side!r} must be an absolute path without '..'")
        return mapping

    @field_validator("cdr_columns")
    @classmethod
    def _has_ids(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        missing = {"uniqueid", "start", "disposition"} - set(columns)
        if missing:
            raise ValueError(f"needs the columns {', '.join(sorted(missing))}")
        return columns

    @field_validator("cdr_timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {zone!r} (e.g. 'Europe/Moscow')") from None
        return zone

    @model_validator(mode="after")
    def _reconnect_range(self) -> AsteriskSourceConfig:
        if self.reconnect_max_seconds < self.reconnect_min_seconds:
            raise ValueError("reconnect_max_seconds must not be below reconnect_min_seconds")
        return self
