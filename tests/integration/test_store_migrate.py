"""``callscribe store migrate --to postgresql://…``: a SQLite store copied into a real
PostgreSQL, every table, ids and all; then the CLI reads it through [store] url."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from callscribe.cli import main
from callscribe.domain import CallPart, CallState
from callscribe.store.base import JobKind, Store
from callscribe.store.blocking import BlockingStore
from callscribe.store.pg_pool import PgTarget
from callscribe.store.postgres import PostgresStore
from callscribe.store.sqlite import SqliteStore
from callscribe.testing_postgres import PostgresCluster
from tests.integration.store_values import TRANSCRIPT, FakeClock, event, recording_for


def filled_sqlite(path: Path) -> SqliteStore:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock)
    delivered = store.ingest(event(1)).call_id
    [fetch] = store.claim([JobKind.FETCH], "w", 60)
    store.complete_fetch(fetch, recording_for(fetch, clock))
    [transcribe] = store.claim([JobKind.TRANSCRIBE], "w", 60)
    store.complete_transcribe(transcribe, TRANSCRIPT, ["okdesk", "qolio"])
    okdesk, qolio = store.claim([JobKind.DELIVER], "w", 60, limit=2)
    store.save_delivery_progress(delivered or 0, "okdesk", {"ticket_id": 17})
    store.complete_delivery(okdesk, "17")
    store.bury(qolio, "401: token revoked")
    store.ingest(event(2, recorded=False), ["okdesk"])
    store.ingest(event(3))
    store.add_call_part(CallPart("uis", "u-1", "call_end", {"talk_time_duration": 42}))
    store.finish_backfill_day("uis", date(2024, 5, 1), 10, 3)
    clock.advance(3600)
    store.mark_recordings_purged([delivered or 0], "recording retention")
    return store


def snapshot(store: Store) -> dict[str, object]:
    calls = store.calls(limit=100)
    return {
        "calls": [(c.id, c.event, c.state, c.received_at, c.error) for c in calls],
        "transcripts": [store.transcript(c.id) for c in calls],
        "recordings": [store.recording(c.id) for c in calls],
        "facts": store.call_facts([c.id for c in calls]),
        "deliveries": store.deliveries(),
        "jobs": store.jobs(),
        "parts": store.call_parts(),
        "days": store.backfilled_days("uis"),
    }


def test_migrate_copies_every_table_and_the_cli_reads_it(
    tmp_path: Path, postgres: PostgresCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    sqlite = filled_sqlite(state / "callscribe.db")
    expected = snapshot(sqlite)
    sqlite.close()
    (tmp_path / "pw").write_text(postgres.password)
    config = tmp_path / "callscribe.toml"
    config.write_text(f"[daemon]\nstate_dir = {json.dumps(str(state))}\n")
    url = postgres.database("migrate")
    argv = ["store", "migrate", "--config", str(config), "--to", url]
    argv += ["--password", f"file:{tmp_path / 'pw'}"]

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "calls: 3 rows" in out
    assert "audit: 1 rows" in out
    store = BlockingStore(lambda: PostgresStore.open(PgTarget(url, postgres.password)))
    try:
        assert snapshot(store) == expected
        [dead] = store.deliveries(state=None, sink="qolio")
        assert store.revive_delivery(dead.call_id, "qolio")  # works on the copy
        fresh = store.ingest(event(4)).call_id  # ids go on after the copied ones
        assert fresh is not None
        assert fresh > max(c.id for c in store.calls()[1:])
        assert store.call(fresh).state is CallState.RECEIVED
    finally:
        store.close()

    assert main(argv) == 2  # the target is not empty any more
    assert "--replace" in capsys.readouterr().err
    assert main([*argv, "--replace"]) == 0
    capsys.readouterr()

    # The CLI of a node configured for PostgreSQL reads the same calls.
    config.write_text(
        f"[daemon]\nstate_dir = {json.dumps(str(tmp_path / 'elsewhere'))}\n"
        f'[store]\nurl = "{url}"\npassword = "file:{tmp_path / "pw"}"\n'
    )
    assert main(["calls", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert "call-3" in listing
    assert "call-4" not in listing  # --replace started again from the SQLite file
    assert main(["deliveries", "--config", str(config), "--dead"]) == 0
    assert "qolio" in capsys.readouterr().out


def test_migrate_refuses_a_password_in_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    SqliteStore(state / "callscribe.db").close()
    config = tmp_path / "callscribe.toml"
    config.write_text(f"[daemon]\nstate_dir = {json.dumps(str(state))}\n")
    code = main(["store", "migrate", "--config", str(config), "--to", "postgresql://u:secret@h/db"])
    assert code == 2
    err = capsys.readouterr().err
    assert "password" in err
    assert "secret" not in err.replace("password", "")
