"""``[sources.<name>]`` with ``type = "mango"``: Mango Office's VPBX API (docs/sources/mango.md)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from callscribe.config.base import SecretValue
from callscribe.connectors.settings import SourceSettings

API_URL = "https://app.mango-office.ru/vpbx/"
FILES_HOST = "files.mango-office.ru"  # where queries/recording/post redirects to (§3.5.1)

# Asked of stats/request; entry_id makes the rows the same calls as the webhooks' (§3.4.1.1).
STATS_FIELDS = (
    "entry_id",
    "records",
    "start",
    "answer",
    "finish",
    "from_extension",
    "from_number",
    "to_extension",
    "to_number",
    "line_number",
    "disconnect_reason",
)


class MangoConfig(SourceSettings):
    """Also takes the settings every source has (``channels``, ``allow_http``, ...:
    ``connectors/settings.py``); ``recording_hosts`` defaults to Mango's file host."""

    type: Literal["mango"]
    api_key: SecretValue = Field(
        description="'Уникальный код вашей АТС' (vpbx_api_key) from Интеграции → "
        "API-коннектор; use credential:NAME."
    )
    api_salt: SecretValue = Field(
        description="'Ключ для создания подписи' (vpbx_api_salt) from the same page; "
        "use credential:NAME."
    )
    api_url: AnyHttpUrl = Field(
        API_URL,  # validated into a URL (validate_default)
        validate_default=True,
        description="Mango's VPBX API address (another for a test server).",
    )
    recording_hosts: tuple[str, ...] = Field(
        (FILES_HOST,),
        description="Hosts Mango's recording links may point at; the api_url host is "
        "always allowed too.",
    )
    recording_wait_seconds: float = Field(
        600.0,
        ge=0,
        description="How long an answered call waits for its record/added notification; "
        "then it is delivered without a recording (logged).",
    )
    more_recordings_seconds: float = Field(
        30.0,
        ge=0,
        description="After the summary and a first recording, how long to wait for more "
        "(one per leg of a transferred call) before the call is joined.",
    )
    summary_wait_seconds: float = Field(
        3600.0,
        ge=0,
        description="How long a recording waits for its call's summary; then the call is "
        "joined from the recording alone (no numbers or times; logged).",
    )
    recording_requests_per_second: float = Field(
        5.0,
        gt=0,
        lt=10,
        description="Recording downloads started per second at most (Mango allows 10).",
    )
    invalid_request_pause_seconds: float = Field(
        130.0,
        ge=0,
        description="How long this source stays away from Mango's API after it refused a "
        "request (Mango blocks the API for 2 minutes after a second invalid request).",
    )
    time_zone: str = Field(
        "Europe/Moscow",
        description="Time zone of call times and of the days `callscribe backfill` asks for.",
    )
    timestamp_offset_hours: int = Field(
        0,
        ge=-14,
        le=14,
        description="Hours Mango's timestamps run ahead of Unix time. The API documentation "
        "says 'UTC+3' without saying whether that shifts the number; 0 reads them as Unix "
        "time. Set 3 if call times come out three hours late.",
    )
    stats_fields: tuple[str, ...] = Field(
        STATS_FIELDS,
        description="Fields asked of Mango's call statistics for backfill, in order; "
        "entry_id is required.",
    )
    stats_poll_seconds: float = Field(
        5.0,
        gt=0,
        description="Wait between asks for prepared statistics (Mango: at most every 5 s).",
    )
    stats_timeout_seconds: float = Field(
        600.0, gt=0, description="Give up on one day's statistics after this long."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name[:60]!r} (e.g. 'Europe/Moscow')") from None
        return name

    @field_validator("stats_fields")
    @classmethod
    def _entry_id_asked(cls, fields: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(field.strip() for field in fields)
        if "entry_id" not in cleaned:
            raise ValueError("must include entry_id: it ties a past call to its webhooks")
        if len(set(cleaned)) != len(cleaned) or not all(cleaned):
            raise ValueError("each field once, none empty")
        return cleaned

    @model_validator(mode="after")
    def _tls_unless_allowed(self) -> MangoConfig:
        if self.api_url.scheme != "https" and not self.allow_http:
            raise ValueError(
                "api_url must be https:// (the key and signature travel with every request); "
                "plain http only with allow_http = true, for a test server"
            )
        return self
