"""Write a transcript for people and programs: dialogue text, JSON, SRT, WebVTT.

The JSON form is a stable, documented format (docs/transcript-format.md); a reader can
turn it back into a :class:`~callscribe.domain.Transcript` with :func:`from_json_dict`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from callscribe.config import RenderSettings
from callscribe.domain import Redaction, Segment, Speaker, Timings, Transcript
from callscribe.errors import TranscriptionError
from callscribe.transcription.subtitles import cues

Format = Literal["text", "json", "srt", "vtt"]
FORMATS: tuple[Format, ...] = ("text", "json", "srt", "vtt")
JSON_FORMAT_NAME = "callscribe.transcript"
JSON_FORMAT_VERSION = 1


def render(
    transcript: Transcript,
    fmt: Format,
    labels: RenderSettings | None = None,
    *,
    source: str | None = None,
) -> str:
    labels = labels or RenderSettings()
    if fmt == "json":
        return json.dumps(to_json_dict(transcript, source=source), ensure_ascii=False, indent=2)
    renderers: Mapping[str, Callable[[Transcript, RenderSettings], str]] = {
        "text": dialogue,
        "srt": srt,
        "vtt": webvtt,
    }
    return renderers[fmt](transcript, labels)


def turns(segments: Iterable[Segment], paragraph_pause: float | None = None) -> list[Segment]:
    """Consecutive segments of one speaker joined into one turn of the dialogue.

    Without channels to tell the speakers apart (``Speaker.UNKNOWN``) that would be one
    line for the whole call; with ``paragraph_pause``, a pause at least that long starts a
    new one there instead.
    """
    merged: list[Segment] = []
    for segment in segments:
        if (
            merged
            and merged[-1].speaker is segment.speaker
            and not (
                paragraph_pause is not None
                and segment.speaker is Speaker.UNKNOWN
                and segment.start - merged[-1].end >= paragraph_pause
            )
        ):
            last = merged[-1]
            merged[-1] = Segment(
                speaker=last.speaker,
                start=last.start,
                end=max(last.end, segment.end),
                text=f"{last.text} {segment.text}",
                avg_logprob=min(last.avg_logprob, segment.avg_logprob),
                no_speech_prob=max(last.no_speech_prob, segment.no_speech_prob),
            )
        else:
            merged.append(segment)
    return merged


def dialogue(transcript: Transcript, labels: RenderSettings) -> str:
    lines = [
        f"[{_clock(turn.start)}] {labels.label(turn.speaker)}: {turn.text}"
        for turn in turns(transcript.segments, labels.paragraph_pause_seconds)
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def srt(transcript: Transcript, labels: RenderSettings) -> str:
    prefixes = {speaker: f"{labels.label(speaker)}: " for speaker in Speaker}
    blocks = [
        f"{number}\n{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}\n"
        + "\n".join(cue.lines)
        + "\n"
        for number, cue in enumerate(cues(transcript.segments, prefixes), start=1)
    ]
    return "\n".join(blocks)


def webvtt(transcript: Transcript, labels: RenderSettings) -> str:
    # The voice tag names the speaker without taking room on screen.
    blocks = [
        f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}\n"
        f"<v {labels.label(cue.speaker)}>" + "\n".join(map(_vtt_escape, cue.lines)) + "\n"
        for cue in cues(transcript.segments)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_json_dict(transcript: Transcript, *, source: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"format": JSON_FORMAT_NAME, "version": JSON_FORMAT_VERSION}
    if source is not None:
        document["source"] = source
    document |= {
        "duration": transcript.duration,
        "language": transcript.language,
        "model": transcript.model,
        "dropped_hallucinations": transcript.dropped_hallucinations,
        "timings": {
            "decode": transcript.timings.decode,
            "vad": transcript.timings.vad,
            "recognition": transcript.timings.recognition,
        },
        "segments": [
            {
                "speaker": s.speaker.value,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "avg_logprob": s.avg_logprob,
                "no_speech_prob": s.no_speech_prob,
            }
            for s in transcript.segments
        ],
    }
    if transcript.redactions is not None:
        document["redactions"] = [
            {"kind": r.kind, "speaker": r.speaker.value, "start": r.start, "end": r.end}
            for r in transcript.redactions
        ]
    return document


def from_json_dict(document: Mapping[str, Any]) -> Transcript:
    """Read the JSON format back; wrong documents raise a TranscriptionError saying why."""
    if document.get("format") != JSON_FORMAT_NAME or document.get("version") != JSON_FORMAT_VERSION:
        raise TranscriptionError(f"not a {JSON_FORMAT_NAME} version {JSON_FORMAT_VERSION} document")
    try:
        timings = document.get("timings") or {}
        return Transcript(
            segments=tuple(
                Segment(
                    speaker=Speaker(s["speaker"]),
                    start=float(s["start"]),
                    end=float(s["end"]),
                    text=str(s["text"]),
                    avg_logprob=float(s.get("avg_logprob", 0.0)),
                    no_speech_prob=float(s.get("no_speech_prob", 0.0)),
                )
                for s in document["segments"]
            ),
            duration=float(document["duration"]),
            language=str(document["language"]),
            model=str(document["model"]),
            dropped_hallucinations=int(document.get("dropped_hallucinations", 0)),
            timings=Timings(**{k: float(v) for k, v in timings.items()}),
            redactions=_redactions(document.get("redactions")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TranscriptionError(f"malformed transcript document: {exc!r}") from exc


def _redactions(listed: Any) -> tuple[Redaction, ...] | None:
    if listed is None:
        return None
    return tuple(
        Redaction(str(r["kind"]), Speaker(r["speaker"]), float(r["start"]), float(r["end"]))
        for r in listed
    )


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
