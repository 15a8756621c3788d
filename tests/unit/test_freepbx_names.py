"""FreePBX recording names, as its call recording module writes them (the table's names
follow ``${ARG2}-${ARG3}-${FROMEXTEN}-${TIMESTR}-${UNIQUEID}``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callscribe.connectors.sources.freepbx_names import read_name
from callscribe.domain import Direction

MSK = ZoneInfo("Europe/Moscow")
AT_0917 = datetime(2024, 11, 5, 9, 17, 30, tzinfo=MSK)


@pytest.mark.parametrize(
    ("stem", "fields", "raw_uniqueid"),
    [
        (
            "in-74950000000-79991234567-20241105-091730-1730780250.107",
            {
                "direction": Direction.INBOUND,
                "line_number": "74950000000",
                "client_number": "79991234567",
                "started_at": AT_0917,
            },
            "1730780250.107",
        ),
        (  # seen in a FreePBX 16 trace: an extension dialling out
            "out-71222-002-20241105-091730-1730780250.107",
            {
                "direction": Direction.OUTBOUND,
                "client_number": "71222",
                "operator_id": "002",
                "started_at": AT_0917,
            },
            "1730780250.107",
        ),
        (
            "out-+79991234567-101-20241105-091730-1730780250.107",
            {
                "direction": Direction.OUTBOUND,
                "client_number": "+79991234567",
                "operator_id": "101",
                "started_at": AT_0917,
            },
            "1730780250.107",
        ),
        (
            "internal-202-201-20241105-091730-1730780250.9",
            {"direction": Direction.INTERNAL, "operator_id": "201", "started_at": AT_0917},
            "1730780250.9",
        ),
        (
            "external-101-89991234567-20241105-091730-1730780250.9",
            {
                "direction": Direction.INBOUND,
                "operator_id": "101",
                "client_number": "89991234567",
                "started_at": AT_0917,
            },
            "1730780250.9",
        ),
        (
            "exten-101-79991234567-20241105-091730-1730780250.9",
            {"operator_id": "101", "client_number": "79991234567", "started_at": AT_0917},
            "1730780250.9",
        ),
        (
            "q-600-79991234567-20241105-091730-1730780250.12",
            {"direction": Direction.INBOUND, "client_number": "79991234567", "started_at": AT_0917},
            "1730780250.12",
        ),
        (
            "rg-600-79991234567-20241105-091730-1730780250.12",
            {"direction": Direction.INBOUND, "client_number": "79991234567", "started_at": AT_0917},
            "1730780250.12",
        ),
        (
            "ondemand-101-79991234567-20241105-091730-1730780250.12",
            {"operator_id": "101", "started_at": AT_0917},
            "1730780250.12",
        ),
        (  # FreePBX's "s" for any DID, and a withheld number: not known, not wrong
            "in-s-unknown-20241105-091730-1730780250.107",
            {"direction": Direction.INBOUND, "started_at": AT_0917},
            "1730780250.107",
        ),
        (
            "in-74950000000-anonymous-20241105-091730-1730780250.107",
            {"direction": Direction.INBOUND, "line_number": "74950000000", "started_at": AT_0917},
            "1730780250.107",
        ),
        (  # a uniqueid without the dot, and one with the system name in front
            "q-600-79991234567-20241105-091730-1730780250",
            {"direction": Direction.INBOUND, "client_number": "79991234567", "started_at": AT_0917},
            "1730780250",
        ),
        (
            "q-600-79991234567-20241105-091730-pbx-east-1730780250.12",
            {"direction": Direction.INBOUND, "client_number": "79991234567", "started_at": AT_0917},
            "pbx-east-1730780250.12",
        ),
        (  # no uniqueid at all
            "IN-101-79991234567-20241105-091730",
            {
                "direction": Direction.INBOUND,
                "line_number": "101",
                "client_number": "79991234567",
                "started_at": AT_0917,
            },
            None,
        ),
        (  # an empty dialled field
            "in--79991234567-20241105-091730-1.2",
            {"direction": Direction.INBOUND, "client_number": "79991234567", "started_at": AT_0917},
            "1.2",
        ),
    ],
)
def test_names_give_direction_numbers_operator_and_time(
    stem: str, fields: dict[str, Any], raw_uniqueid: str | None
) -> None:
    details = read_name(stem, MSK)
    assert details.problems == ()
    assert details.fields == fields
    assert details.raw.get("uniqueid") == raw_uniqueid
    assert details.raw["kind"] == stem.split("-", maxsplit=1)[0]


@pytest.mark.parametrize(
    ("stem", "problem", "kept"),
    [
        (
            "in-101-79991234567-20241399-091730-1.2",
            "time: 20241399-091730 is not a date",
            {"direction": Direction.INBOUND, "line_number": "101", "client_number": "79991234567"},
        ),
        (
            "in-101-79991234567-20240230-091730-1.2",
            "time: 20240230-091730",
            {"direction": Direction.INBOUND, "line_number": "101", "client_number": "79991234567"},
        ),
        (
            "out-71222-002-20241105-246000-1.2",
            "time: 20241105-246000",
            {"direction": Direction.OUTBOUND, "client_number": "71222", "operator_id": "002"},
        ),
        (
            "in-101-+7 (999) 123 45 67-20241105-091730-1.2",
            "caller: '+7 (999) 123 45 67' is not",
            {"direction": Direction.INBOUND, "line_number": "101", "started_at": AT_0917},
        ),
        (
            "out-9;DROP-101-20241105-091730-1.2",
            "dialled: '9;DROP' is not",
            {"direction": Direction.OUTBOUND, "operator_id": "101", "started_at": AT_0917},
        ),
        (
            "parked-101-79991234567-20241105-091730-1.2",
            "kind: 'parked' is not one",
            {"started_at": AT_0917},
        ),
        ("recording", "name: not in FreePBX's form", {}),
        ("20261121-232442-1795303482.0", "name: not in FreePBX's form", {}),
        ("in-101-79991234567-2024110-091730-1.2", "name: not in FreePBX's form", {}),
        ("in-101-79991234567-２０２４１１０５-091730-1.2", "name: not in FreePBX's form", {}),
    ],
)
def test_what_cannot_be_read_is_left_out_and_said(
    stem: str, problem: str, kept: dict[str, Any]
) -> None:
    details = read_name(stem, MSK)
    (said,) = details.problems
    assert said.startswith(problem)
    assert details.fields == kept


def test_the_time_is_read_in_the_configured_zone_or_this_machines() -> None:
    stem = "in-101-79991234567-20240701-120000-1.2"
    assert read_name(stem, MSK).fields["started_at"] == datetime(2024, 7, 1, 9, tzinfo=UTC)
    plus5 = timezone(timedelta(hours=5))
    assert read_name(stem, plus5).fields["started_at"] == datetime(2024, 7, 1, 7, tzinfo=UTC)
    local = read_name(stem, None).fields["started_at"]
    assert local == datetime(2024, 7, 1, 12).astimezone()
    assert local.utcoffset() is not None
