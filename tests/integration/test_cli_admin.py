"""``callscribe calls`` and ``callscribe deliveries`` on a real database, opened while a
"daemon" connection (the test's store) stays open on it, as in production."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callscribe.cli import main
from callscribe.cli.calls import local_time
from callscribe.config import RenderSettings
from callscribe.connectors.http_status import check_response
from callscribe.domain import CallState, DeliveryState
from callscribe.errors import AudioError, SinkError
from callscribe.logmask import mask_phone
from callscribe.store.base import JobKind, JobState
from callscribe.store.sqlite import SqliteStore
from callscribe.transcription.render import render
from tests.integration.store_values import event
from tests.integration.test_retention import CLIENT, add_call, take, transcript

MASKED = mask_phone(CLIENT)


@dataclasses.dataclass
class World:
    config: Path
    store: SqliteStore
    recordings: Path
    ids: dict[str, int]
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str) -> tuple[int, str, str]:
        """Run the CLI with this world's --config; (exit code, stdout, stderr)."""
        self.capsys.readouterr()
        code = main([*argv[:1], "--config", str(self.config), *argv[1:]])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[World]:
    state = tmp_path / "state"
    config = tmp_path / "callscribe.toml"
    config.write_text(f"[daemon]\nstate_dir = {json.dumps(str(state))}\n", "utf-8")
    store = SqliteStore(state / "callscribe.db")  # the real clock, as the CLI has
    rec = state / "recordings"
    ids = {
        "delivered": add_call(store, rec, 1, "done", text="Номер договора 8 (999) 123-45-67."),
        "dead": add_call(store, rec, 2, "done", sinks=("archive", "helpdesk"), dead=("helpdesk",)),
        "fetch_failed": add_call(store, rec, 3, "fetch_failed"),
        "transcribe_failed": add_call(store, rec, 4, "transcribe_failed"),
        "missed": add_call(store, rec, 5, "no_recording", dead=("helpdesk",)),
        "queued": add_call(store, rec, 6, "received", source="office"),
    }
    yield World(config, store, rec, ids, capsys)
    store.close()


def row_of(out: str, call_id: int) -> str:
    (line,) = [line for line in out.splitlines() if line.split()[0] == str(call_id)]
    return line


# --- calls ------------------------------------------------------------------------------


def test_calls_lists_every_call_with_numbers_masked(world: World) -> None:
    code, out, _ = world.run("calls")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID", "RECEIVED", "SOURCE", "EXTERNAL", "ID", "DIRECTION", "CLIENT", "STATE",
        "DURATION", "NOTE",
    ]  # fmt: skip
    assert len(lines) == 1 + len(world.ids)
    assert CLIENT not in out
    assert "9001234567" not in out
    delivered = world.ids["delivered"]
    received = local_time(world.store.call(delivered).received_at)
    assert row_of(out, delivered).split() == [
        str(delivered), *received.split(), "asterisk", "call-1", "inbound", MASKED, "done",
        "3:25", "-",
    ]  # fmt: skip
    assert "403 Forbidden" in row_of(out, world.ids["fetch_failed"])
    assert "failed" in row_of(out, world.ids["transcribe_failed"])
    column = lines[0].index("STATE")  # aligned: every state starts under the heading
    assert {line[column:].split()[0] for line in lines[1:]} <= {s.value for s in CallState}


def test_calls_filters_and_reveals_numbers_on_request(world: World) -> None:
    code, out, _ = world.run("calls", "--state", "failed")
    assert code == 0
    assert {line.split()[0] for line in out.splitlines()[1:]} == {
        str(world.ids["fetch_failed"]), str(world.ids["transcribe_failed"])
    }  # fmt: skip
    _, out, _ = world.run("calls", "--source", "office")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(world.ids["queued"])]
    _, out, _ = world.run("calls", "--limit", "2")
    assert len(out.splitlines()) == 3
    _, out, _ = world.run("calls", "--show-numbers", "--state", "done")
    assert CLIENT in out
    _, out, _ = world.run("calls", "--source", "nowhere")
    assert out == "no calls matching the filters\n"


def test_control_characters_from_the_pbx_cannot_reach_the_terminal(world: World) -> None:
    forged = dataclasses.replace(event(7), external_id="x\x1b[2J\rcall-7", recordings=())
    world.store.ingest(forged, [])
    _, out, _ = world.run("calls")
    assert "\x1b" not in out
    assert "\r" not in out
    assert "x\\x1b[2J\\rcall-7" in out


def test_calls_show_has_details_deliveries_and_the_dialogue(world: World) -> None:
    dead = world.ids["dead"]
    code, out, _ = world.run("calls", "show", str(dead))
    assert code == 0
    assert out.startswith(f"Call {dead}\n")
    assert f"client       {MASKED}" in out
    assert "operator     101 Анна Петрова" in out
    assert "state        done" in out
    assert "recording-0123456789abcdef.wav (1028 bytes)" in out
    deliveries = out.split("Deliveries:\n")[1].split("\n\n")[0].splitlines()
    assert deliveries[0].split() == ["SINK", "STATE", "ATTEMPTS", "DELIVERED", "ERROR"]
    assert deliveries[1].split()[:3] == ["archive", "delivered", "1"]
    assert deliveries[2].split()[:4] == ["helpdesk", "dead", "1", "-"]
    assert "the helpdesk answered 422: unknown queue" in deliveries[2]
    dialogue = render(transcript("Вопрос номер 2."), "text", RenderSettings())
    assert out.endswith("Transcript (3:25, ru):\n" + dialogue)
    assert dialogue.splitlines()[0] == "[00:00] Оператор: Здравствуйте, компания «Ромашка»."


def test_calls_show_masks_numbers_in_the_transcript_too(world: World) -> None:
    delivered = str(world.ids["delivered"])
    _, out, _ = world.run("calls", "show", delivered)
    assert "Номер договора * (***) ***-45-67." in out
    _, out, _ = world.run("calls", "show", delivered, "--show-numbers")
    assert "Номер договора 8 (999) 123-45-67." in out
    assert f"client       {CLIENT}" in out


def test_calls_show_as_json_and_subtitles(world: World) -> None:
    delivered = world.ids["delivered"]
    code, out, _ = world.run("calls", "show", str(delivered), "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["call"]["id"] == delivered
    assert document["call"]["state"] == "done"
    assert document["call"]["client_number"] == MASKED
    assert document["call"]["ended_at"] == "2024-05-01T15:02:30.250000+03:00"
    assert document["call"]["recording"]["purged_at"] is None
    assert "raw" not in document["call"]
    assert [d["sink"] for d in document["deliveries"]] == ["helpdesk"]
    assert document["deliveries"][0]["idempotency_key"].startswith("cs1-")
    assert document["transcript"]["duration"] == 205.0
    code, out, _ = world.run("calls", "show", str(delivered), "--format", "srt")
    masked = transcript("Номер договора * (***) ***-45-67.")
    assert (code, out) == (0, render(masked, "srt", RenderSettings()))
    code, _, err = world.run("calls", "show", str(world.ids["missed"]), "--format", "vtt")
    assert code == 1
    assert "has no transcript" in err


def test_calls_show_explains_a_missing_transcript(world: World) -> None:
    _, out, _ = world.run("calls", "show", str(world.ids["missed"]))
    assert out.endswith("Transcript: none (the call has no recording)\n")
    assert "recording    -" in out
    _, out, _ = world.run("calls", "show", str(world.ids["fetch_failed"]))
    assert out.endswith("Transcript: none (the call failed before it was transcribed)\n")
    assert "error        fetch: the PBX answered 403 Forbidden" in out


def test_a_reason_reads_first_in_the_lists_and_whole_in_show(world: World) -> None:
    # Reasons as the real errors word them: what went wrong, then the file or URL.
    path = "/var/spool/asterisk/monitor/2026/11/20/in-4951234567-2026112010150-1732.4.wav"
    not_audio = str(AudioError(path, "looks like an HTML page, not audio"))
    request = httpx.Request("POST", "https://crm.example.com/api/v2/calls?api_token=SECRET")
    with pytest.raises(SinkError) as refused:
        check_response(httpx.Response(422, text='{"error": "unknown queue"}', request=request))
    failed = add_call(world.store, world.recordings, 9, "fetched")
    world.store.bury(take(world.store, JobKind.TRANSCRIBE, failed), not_audio)
    dead = add_call(world.store, world.recordings, 10, "done", dead=("helpdesk",))
    world.store.revive_delivery(dead, "helpdesk")
    world.store.bury(take(world.store, JobKind.DELIVER, dead, "helpdesk"), str(refused.value))

    _, out, _ = world.run("calls", "--show-numbers")
    note = "  transcribe: recording looks like an HTML page, not audio — …"  # cut at 60
    assert row_of(out, failed).endswith(note)
    _, out, _ = world.run("calls", "show", str(failed), "--show-numbers")
    assert f"error        transcribe: {not_audio}\n" in out
    assert not_audio.endswith(" — …/monitor/2026/11/20/in-4951234567-2026112010150-1732.4.wav")

    _, out, _ = world.run("deliveries", "--dead")
    assert '  the API answered HTTP 422: {"error": "unknown queue"} — POST https://…\n' in out
    _, out, _ = world.run("calls", "show", str(dead))
    whole = 'the API answered HTTP 422: {"error": "unknown queue"} — POST https://crm.example.com'
    assert f"{whole}/api/v2/calls\n" in out
    assert "SECRET" not in out


def test_unknown_ids_exit_1(world: World) -> None:
    code, out, err = world.run("calls", "show", "999")
    assert (code, out) == (1, "")
    assert err == "callscribe: no call with id 999\n"
    assert world.run("calls", "retry", "999")[0] == 1
    assert world.run("deliveries", "retry", "999")[0] == 1


def test_config_and_usage_errors_exit_2(world: World, tmp_path: Path) -> None:
    assert main(["calls", "--config", str(tmp_path / "missing.toml")]) == 2
    elsewhere = tmp_path / "other.toml"
    elsewhere.write_text('[daemon]\nstate_dir = "nowhere"\n', "utf-8")
    assert main(["deliveries", "--config", str(elsewhere)]) == 2
    assert "no database at" in world.capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()  # an admin command never creates one
    assert world.run("deliveries", "retry")[0] == 2
    assert world.run("deliveries", "retry", "1", "--all-dead")[0] == 2
    with pytest.raises(SystemExit) as info:
        main(["calls", "--state", "bogus"])
    assert info.value.code == 2


# --- deliveries and their retry -------------------------------------------------------------


def test_deliveries_dead_lists_the_dead_letters(world: World) -> None:
    code, out, _ = world.run("deliveries", "--dead")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CALL", "SINK", "STATE", "ATTEMPTS", "DELIVERED", "LAST", "ERROR"]
    rows = [line.split()[:3] for line in lines[1:3]]
    assert rows == [
        [str(world.ids["dead"]), "helpdesk", "dead"],
        [str(world.ids["missed"]), "helpdesk", "dead"],
    ]
    assert "2 dead: fix the cause" in out
    _, out, _ = world.run("deliveries")
    assert len([line for line in out.splitlines() if " delivered " in line]) == 2
    _, out, _ = world.run("deliveries", "--sink", "archive")
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [
        [str(world.ids["dead"]), "archive", "delivered"]
    ]


def test_retry_requeues_a_dead_delivery_with_the_same_key(world: World) -> None:
    call_id = world.ids["dead"]
    (before,) = world.store.deliveries(call_id=call_id, sink="helpdesk")
    (dead_job,) = [
        job
        for job in world.store.jobs(state=JobState.DEAD, kind=JobKind.DELIVER)
        if job.call_id == call_id
    ]

    code, out, _ = world.run("deliveries", "retry", str(call_id))

    assert code == 0
    assert out == f"call {call_id} to helpdesk: queued again\n1 delivery queued again\n"
    (delivery,) = world.store.deliveries(call_id=call_id, sink="helpdesk")
    assert (delivery.state, delivery.attempts, delivery.error) == (DeliveryState.PENDING, 0, None)
    assert delivery.idempotency_key == before.idempotency_key
    assert world.store.call(call_id).state is CallState.TRANSCRIBED
    (queued,) = world.store.jobs(state=JobState.QUEUED, kind=JobKind.DELIVER)
    assert (queued.id, queued.attempts, queued.stalls, queued.error) == (dead_job.id, 0, 0, None)
    # The daemon's next claim gets it at once, and the sink sees the old key.
    job = take(world.store, JobKind.DELIVER, call_id, "helpdesk")
    assert job.attempts == 1
    (pending,) = world.store.deliveries(call_id=job.call_id, sink=job.sink)
    assert pending.idempotency_key == before.idempotency_key
    world.store.complete_delivery(job, "T-42")
    assert world.store.call(call_id).state is CallState.DONE
    # Nothing dead left for that call: asking again is "not found".
    code, _, err = world.run("deliveries", "retry", str(call_id))
    assert code == 1
    assert "has no dead delivery" in err


def test_retry_all_dead_with_a_sink_filter(world: World) -> None:
    code, out, _ = world.run("deliveries", "retry", "--all-dead", "--sink", "archive")
    assert (code, out) == (0, "no dead deliveries to archive\n")
    code, out, _ = world.run("deliveries", "retry", "--all-dead")
    assert code == 0
    assert out.endswith("2 deliveries queued again\n")
    assert world.store.deliveries(state=DeliveryState.DEAD) == []
    assert world.store.call(world.ids["missed"]).state is CallState.NO_RECORDING
    assert world.store.call(world.ids["dead"]).state is CallState.TRANSCRIBED


def test_store_revive_delivery_only_revives_dead_ones(world: World) -> None:
    assert not world.store.revive_delivery(world.ids["delivered"], "helpdesk")
    assert not world.store.revive_delivery(world.ids["dead"], "nowhere")
    assert world.store.revive_delivery(world.ids["missed"], "helpdesk")
    assert not world.store.revive_delivery(world.ids["missed"], "helpdesk")  # pending now
    # A transcript deleted by retention cannot be delivered again.
    world.store._conn.execute("DELETE FROM transcripts WHERE call_id = ?", (world.ids["dead"],))
    with pytest.raises(ValueError, match="deleted by the retention policy"):
        world.store.revive_delivery(world.ids["dead"], "helpdesk")
    code, _, err = world.run("deliveries", "retry", str(world.ids["dead"]))
    assert code == 1
    assert "nothing left to deliver" in err
    assert world.store.deliveries(call_id=world.ids["dead"], sink="helpdesk")[0].state == "dead"


def test_calls_retry_requeues_the_stage_that_died(world: World) -> None:
    fetch_failed, transcribe_failed = world.ids["fetch_failed"], world.ids["transcribe_failed"]
    code, out, _ = world.run("calls", "retry", str(fetch_failed), str(transcribe_failed))
    assert code == 0
    assert out == (
        f"call {fetch_failed}: queued to be fetched again\n"
        f"call {transcribe_failed}: queued to be transcribed again\n"
    )
    assert world.store.call(fetch_failed).state is CallState.RECEIVED
    assert world.store.call(fetch_failed).error is None
    assert world.store.call(transcribe_failed).state is CallState.FETCHED
    job = take(world.store, JobKind.TRANSCRIBE, transcribe_failed)
    assert (job.attempts, job.stalls) == (1, 0)
    assert take(world.store, JobKind.FETCH, fetch_failed).attempts == 1
    code, _, err = world.run("calls", "retry", str(world.ids["delivered"]))
    assert code == 1
    assert "has not failed" in err


def test_calls_retry_fetches_again_when_the_recording_is_gone(world: World) -> None:
    call_id = world.ids["transcribe_failed"]
    assert world.store.mark_recordings_purged([call_id], "test") == 1
    code, out, _ = world.run("calls", "retry", str(call_id))
    assert (code, out) == (0, f"call {call_id}: queued to be fetched again\n")
    assert world.store.call(call_id).state is CallState.RECEIVED
    assert take(world.store, JobKind.FETCH, call_id).call_id == call_id
    # And on request, even with the file there.
    other = add_call(world.store, world.recordings, 8, "transcribe_failed")
    assert world.store.revive_call(other, refetch=True) is JobKind.FETCH
