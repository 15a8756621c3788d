"""Settings of the long-running service: where it keeps state, what it listens on, how
hard it works and how patiently it retries."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from callscribe.config.base import ConfigModel, ConfigPath, Secret, SecretValue
from callscribe.retry import DELIVERY, FETCH, TRANSCRIBE, RetryPolicy


class DaemonSettings(ConfigModel):
    """Where the service keeps its state, what it listens on and how hard it works."""

    state_dir: ConfigPath = Field(
        Path("/var/lib/callscribe"),
        description="Database and fetched recordings live here (systemd: StateDirectory).",
    )
    database: ConfigPath | None = Field(
        None, description="SQLite file; default state_dir/callscribe.db"
    )
    listen: str = Field(
        "127.0.0.1:8680", description="host:port of the webhook and metrics HTTP server"
    )
    fetch_workers: int = Field(4, ge=1, le=64, description="Recordings downloaded at once.")
    transcribe_batch: int = Field(
        8,
        ge=1,
        le=32,
        description="Queued calls taken for transcription at once; they are decoded two at "
        "a time and recognised together in groups of up to 15 minutes of audio, whose "
        "windows share batches (decoded audio: about 8 MB per minute of a stereo call).",
    )
    transcribe_gather_seconds: float = Field(
        2.0,
        ge=0.0,
        le=60.0,
        description="While recordings are still being downloaded, how long the transcriber "
        "waits for them so that a burst of calls is recognised together.",
    )
    delivery_workers: int = Field(4, ge=1, le=64, description="Deliveries posted at once.")
    lease_seconds: float = Field(
        60.0,
        ge=5.0,
        description="A job whose worker stops renewing it for this long is taken again.",
    )
    heartbeat_seconds: float = Field(
        10.0, ge=1.0, description="How often a worker renews the leases of its running jobs."
    )
    sweep_seconds: float = Field(
        15.0, ge=1.0, description="How often expired leases are looked for (and metrics refreshed)."
    )
    max_stalls: int = Field(
        3, ge=1, description="Workers that died holding a job before it is declared dead."
    )
    stop_timeout_seconds: float = Field(
        75.0,
        ge=1.0,
        description="On stop, running jobs get this long to finish (keep under TimeoutStopSec).",
    )
    max_webhook_bytes: int = Field(
        1 << 20, ge=1024, description="Larger webhook bodies are refused with 413."
    )
    max_recording_bytes: int = Field(
        100 << 20, ge=1024, description="Larger recordings are not downloaded."
    )
    public_url: str | None = Field(
        None,
        description="The address platforms (Qolio, Usedesk, Okdesk) reach this service at "
        "through your reverse proxy, e.g. 'https://calls.example.com'. Set, they are given "
        "signed links to recordings under public_url/recordings/ (docs/recording-links.md); "
        "unset, only sources' own lasting URLs are given.",
    )
    link_secret: SecretValue | None = Field(
        None,
        description="Key that signs recording links (at least 32 characters; use "
        "credential:NAME). Default: made once into state_dir/link-secret, readable by the "
        "service only. Changing it stops every link given out so far.",
    )
    link_days: float = Field(
        7.0,
        gt=0.0,
        le=3650.0,
        description="How long a recording link works, in days (rounded up to the hour).",
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port such as 127.0.0.1:8680, got {value!r}")
        return value

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                f"expected an https:// address such as https://calls.example.com, got {value!r}"
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("give the address only: no user, password, ?query or #fragment")
        return value.strip().rstrip("/")

    @field_validator("link_secret")
    @classmethod
    def _long_secret(cls, secret: Secret | None) -> Secret | None:
        if secret is not None and len(secret.reveal()) < 32:
            raise ValueError(
                "must be at least 32 characters; generate one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return secret

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def database_path(self) -> Path:
        return self.database or self.state_dir / "callscribe.db"

    @property
    def recordings_dir(self) -> Path:
        return self.state_dir / "recordings"


class RetentionSettings(ConfigModel):
    """How long personal data is kept; every deletion is written to the database's audit
    table (what, how many, which calls, why — no personal data)."""

    keep_recordings: bool = Field(
        False,
        description=(
            "Keep fetched recordings after the call finished (delivered, dead or failed); "
            "by default they are deleted within a minute."
        ),
    )
    linked_recording_days: float = Field(
        7.0,
        ge=0.0,
        description="While recording links are served ([daemon] public_url), recordings are "
        "kept this many days after their call finished, so that the links play; then "
        "deleted. Calls whose transcription failed have no links: theirs go at once.",
    )
    transcript_days: int | None = Field(
        30,
        ge=1,
        description="Delete transcripts this many days after the call finished; unset: keep.",
    )
    call_days: int | None = Field(
        None,
        ge=1,
        description="Erase whole calls this many days after they finished: the call's "
        "details and numbers, transcripts, deliveries, files and its lines in JSONL sinks "
        "on this machine (as 'callscribe purge --older-than'); unset: keep them.",
    )


class RetrySettings(ConfigModel):
    """Seconds to wait before each retry; the number of entries is the number of retries.

    The defaults and their reasons are in ``callscribe/retry.py``: delivery follows the
    schedule webhook senders such as Svix use; fetching allows for recordings that appear
    minutes or hours after the call.
    """

    fetch: tuple[float, ...] = Field(
        FETCH.delays, description="Waits between attempts to fetch a recording."
    )
    transcribe: tuple[float, ...] = Field(
        TRANSCRIBE.delays, description="Waits after a decoder crash or a recognition failure."
    )
    delivery: tuple[float, ...] = Field(
        DELIVERY.delays, description="Waits between attempts to deliver to a sink."
    )
    jitter: float = Field(
        DELIVERY.jitter, ge=0.0, le=1.0, description="Spread waits by ± this share."
    )

    @field_validator("fetch", "transcribe", "delivery")
    @classmethod
    def _not_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("waits are seconds, zero or more")
        return value

    def policy(self, stage: Literal["fetch", "transcribe", "delivery"]) -> RetryPolicy:
        delays: tuple[float, ...] = getattr(self, stage)
        return RetryPolicy(delays=delays, jitter=self.jitter)
