"""Settings of the T-Bank TQM sink (``type = "tqm"``, docs/sinks/tqm.md).

T-Bank's public documentation of «Импорт звонков» is cut off after ``EndDate``: the JSON
names of the hung-up side, operator id, operator channel, client phone and file link are
not published.  They are settings here, with defaults named after the fields of T-Bank's
own Albato form (seed «Импортировать звонки»), flagged as unconfirmed in the docs; set a
name to "" to leave that field out.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, PlainSerializer, PlainValidator, field_validator

from callscribe.config.base import ConfigModel, SecretValue, TimeZone
from callscribe.connectors.sinks.tqm_audio import MP3_KBPS
from callscribe.mapping.fields import SINK_SCOPE
from callscribe.mapping.template import Template

DEFAULT_URL = "https://tqm-cloud.tbank.ru/integration/import/call"


def _template(value: Any) -> Template:
    if isinstance(value, Template):
        return value
    if not isinstance(value, str):
        raise ValueError("expected text: a value or a template such as '{call.operator_id}'")
    return Template.parse(value, SINK_SCOPE)


FieldTemplate = Annotated[
    Template, PlainValidator(_template), PlainSerializer(lambda t: t.source, return_type=str)
]
_NOT_CONFIRMED = " (name not confirmed by T-Bank's public docs; '' leaves the field out)"


class TqmSinkConfig(ConfigModel):
    type: Literal["tqm"]
    url: AnyHttpUrl = Field(
        DEFAULT_URL,
        validate_default=True,
        description="T-Bank's import endpoint; the file is posted to this URL + '/with-file'.",
    )
    access_key: SecretValue = Field(
        description="«Ключ доступа к TQM» from TQM → «Личный кабинет», sent as "
        "'Authorization: Basic <key>' as it is (use credential:NAME)."
    )
    upload: Literal["auto", "file"] = Field(
        "auto",
        description="'file': always upload the recording (multipart, with-file); 'auto': "
        "send a link instead when one exists (file_link, or the source's durable "
        "recording URL) and the operator is already on the left channel.",
    )
    file_link: FieldTemplate | None = Field(
        None,
        description="A durable link TQM can fetch the recording from, e.g. "
        "'https://records.example.com/{call.external_id}.mp3'.",
    )
    time_zone: TimeZone = Field(
        "Europe/Moscow",
        validate_default=True,
        description="StartDate and EndDate are written in this time zone, without an offset.",
    )
    other_directions: Literal["inbound", "outbound"] = Field(
        "inbound",
        description="CallDirection sent for internal calls and calls of unknown direction "
        "(TQM knows only inbound and outbound).",
    )
    hangup_side: FieldTemplate = Field(
        "client",
        validate_default=True,
        description="Who hung up: 'client' or 'operator', or a template reading the "
        "vendor's field, e.g. '{raw.disconnect_reason}'.",
    )
    operator_id: FieldTemplate = Field(
        "{call.operator_id}",
        validate_default=True,
        description="The operator's id in TQM; the seed flow used Mango's «Последняя группа».",
    )
    client_phone: FieldTemplate = Field(
        "{call.client_number}",
        validate_default=True,
        description="The client's phone number; filters such as |phone_digits reformat it.",
    )
    hangup_side_key: str = Field(
        "HangupSide", description="JSON name of the hung-up side" + _NOT_CONFIRMED
    )
    operator_id_key: str = Field(
        "OperatorId", description="JSON name of the operator id" + _NOT_CONFIRMED
    )
    operator_channel_key: str = Field(
        "OperatorChannel",
        description="JSON name of the operator channel, always 'left'" + _NOT_CONFIRMED,
    )
    client_phone_key: str = Field(
        "ClientPhone", description="JSON name of the client's phone" + _NOT_CONFIRMED
    )
    file_link_key: str = Field(
        "FileLink", description="JSON name of the file link in the link form" + _NOT_CONFIRMED
    )
    audio_format: Literal["mp3", "wav"] = Field(
        "mp3",
        description="Format of uploaded recordings: 'mp3' (constant bitrate) or 'wav' (PCM; "
        "100 MB, about 50 minutes of stereo, at most).",
    )
    mp3_kbps: int = Field(
        64,
        description="MP3 bitrate, kbit/s: 64, 80, 96, 112, 128, 144 or 160 (TQM asks for 64).",
    )
    mono_recordings: Literal["dead_letter", "both_channels"] = Field(
        "dead_letter",
        description="A mono recording cannot tell TQM who is speaking: 'dead_letter' refuses "
        "it with that reason, 'both_channels' sends it with the same sound on both sides.",
    )
    requests_per_second: float = Field(
        2.0,
        gt=0,
        le=50,
        description="Requests a second at most, evenly spaced (TQM blocks bursts as a DDoS).",
    )
    timeout_seconds: float = Field(
        120.0, gt=0, le=600, description="Give up on one attempt after this long (retried later)."
    )

    @field_validator("mp3_kbps")
    @classmethod
    def _a_bitrate_of_mp3(cls, kbps: int) -> int:
        if kbps not in MP3_KBPS:
            raise ValueError(f"expected one of {', '.join(map(str, MP3_KBPS))}")
        return kbps
