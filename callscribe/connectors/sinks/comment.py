"""The comment a supervisor reads in a helpdesk ticket: what the call was, then the dialogue.

The header repeats what Usedesk's UIS channel writes about a call today (type, answered
or not, operator id, start and end, operator, duration as чч:мм:сс, recording link), so a
transcript reads like the telephony notes next to it.  Then the dialogue, one line per
turn, ``[мм:сс] Оператор: …`` with the labels of ``[render]``.  A long call becomes
several comments (``comment_split.py``).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator

from callscribe.config import RenderSettings
from callscribe.connectors.base import DeliveryContext
from callscribe.connectors.sinks.comment_split import Line, Markup, compose
from callscribe.connectors.sinks.platform import PlatformSettings
from callscribe.domain import Call, Direction, Transcript
from callscribe.transcription.render import dialogue

TITLE_TRANSCRIPT = "Расшифровка звонка"
#: A newer transcript of a call the ticket already has one of (``retranscribe --redeliver``).
TITLE_REVISION = "Исправленная расшифровка звонка"
TITLE_ANSWERED = "Звонок"
TITLE_MISSED = "Пропущенный звонок"
NO_SPEECH = "(в записи нет речи)"
RECORDING_ON_PBX = "хранится на АТС, ссылки для прослушивания нет"
DIRECTIONS = {
    Direction.INBOUND: "входящий звонок",
    Direction.OUTBOUND: "исходящий звонок",
    Direction.INTERNAL: "внутренний звонок",
    Direction.UNKNOWN: "звонок",
}


class CommentSettings(PlatformSettings):
    """What every sink that writes comments has."""

    time_zone: str | None = Field(
        None,
        description="Time zone the start and end of a call are shown in, e.g. "
        "'Europe/Moscow'; default: the offset the source gave.",
    )
    max_comment_bytes: int = Field(
        60_000,
        ge=2_000,
        le=1_000_000,
        description="A longer transcript is split into several comments of at most this "
        "many bytes (UTF-8), headed «часть 1 из N».",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {name!r} (e.g. 'Europe/Moscow')") from None
        return name

    def zone(self) -> tzinfo | None:
        return ZoneInfo(self.time_zone) if self.time_zone else None


def comment_parts(
    settings: CommentSettings,
    call: Call,
    transcript: Transcript | None,
    labels: RenderSettings,
    context: DeliveryContext,
    *,
    markup: Markup,
    with_header: bool = True,
) -> list[str]:
    """The comment(s) about one call: see :func:`compose`."""
    zone = settings.zone()
    head = header(call, transcript, context.recording_url, zone) if with_header else []
    body = dialogue_lines(transcript, labels) if transcript is not None else []
    return compose(
        title(call, transcript, revision=context.revises is not None),
        head,
        body,
        key=context.key,
        markup=markup,
        max_bytes=settings.max_comment_bytes,
    )


def _check_template(template: str) -> str:
    try:
        template.format(number="+79991234567")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{template!r}: the only placeholder is {{number}} ({exc!r} is not one)"
        ) from None
    return template


NumberTemplate = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(_check_template)
]
"""A ticket subject or issue title; ``{number}`` is the client's number."""
NO_NUMBER = "(номер скрыт)"


def with_number(template: str, number: str | None) -> str:
    return template.format(number=number or NO_NUMBER)


def title(call: Call, transcript: Transcript | None, *, revision: bool = False) -> str:
    if transcript is not None:
        return TITLE_REVISION if revision else TITLE_TRANSCRIPT
    return TITLE_ANSWERED if call.event.answered_at is not None else TITLE_MISSED


def header(
    call: Call, transcript: Transcript | None, recording_url: str | None, zone: tzinfo | None
) -> list[Line]:
    """What the call was, as Usedesk's UIS channel describes a call."""
    event = call.event
    answered = transcript is not None or event.answered_at is not None
    lines = [
        Line(f"Тип: {DIRECTIONS[event.direction]}"),
        Line(f"Статус: {'успех' if answered else 'не успех'}"),
    ]
    if event.client_number:
        lines.append(Line(f"Номер клиента: {event.client_number}"))
    if event.operator_id:
        lines.append(Line(f"ID оператора: {event.operator_id}"))
    if event.started_at:
        lines.append(Line(f"Начало: {local_time(event.started_at, zone)}"))
    if event.ended_at:
        lines.append(Line(f"Завершение: {local_time(event.ended_at, zone)}"))
    if event.operator_name:
        lines.append(Line(f"Оператор: {event.operator_name}"))
    seconds = talk_seconds(call, transcript)
    if seconds is not None:
        lines.append(Line(f"Продолжительность: {hhmmss(seconds)}"))
    if recording_url:
        lines.append(Line("Запись разговора:", recording_url))
    elif event.recordings:
        lines.append(Line(f"Запись разговора: {RECORDING_ON_PBX}"))
    return lines


def dialogue_lines(transcript: Transcript, labels: RenderSettings) -> list[Line]:
    text = dialogue(transcript, labels)
    return [Line(line) for line in text.splitlines()] or [Line(NO_SPEECH)]


def talk_seconds(call: Call, transcript: Transcript | None) -> float | None:
    """Answer to hang-up when the source says; else the recording's length; else start to
    end."""
    event = call.event
    if event.talk_seconds is not None:
        return event.talk_seconds
    if transcript is not None:
        return transcript.duration
    if event.started_at and event.ended_at:
        return max(0.0, (event.ended_at - event.started_at).total_seconds())
    return None


def hhmmss(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def local_time(moment: datetime, zone: tzinfo | None) -> str:
    shown = moment.astimezone(zone) if zone is not None else moment
    return shown.strftime("%d.%m.%Y %H:%M:%S")
