"""What the helpdesk sinks write: phone numbers, call fields, comment parts and markers."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callscribe.config.loader import load_settings
from callscribe.connectors.registry import build_sink
from callscribe.connectors.sinks.call_values import check_field_path, field_value, phone
from callscribe.connectors.sinks.comment import hhmmss, local_time
from callscribe.connectors.sinks.comment_split import Line, compose, marker
from callscribe.connectors.sinks.exactly_once import find_part
from callscribe.domain import CallEvent, Direction
from callscribe.errors import ConfigError

KEY = "cs1-" + "ab" * 32


@pytest.mark.parametrize(
    ("number", "fmt", "written"),
    [
        ("+7 (999) 123-45-67", "e164", "+79991234567"),
        ("8 (999) 123-45-67", "e164", "+79991234567"),
        ("9991234567", "digits", "79991234567"),
        ("+79991234567", "national", "89991234567"),
        ("+7 (999) 123-45-67", "as_received", "+7 (999) 123-45-67"),
        ("+44 20 7946 0958", "digits", "442079460958"),
        ("101", "e164", "101"),  # an extension is not a phone number to rewrite
        ("anonymous", "e164", "anonymous"),
        ("  ", "e164", None),
        (None, "digits", None),
    ],
)
def test_phone_numbers_are_written_in_the_platforms_format(
    number: str | None, fmt: str, written: str | None
) -> None:
    assert phone(number, fmt, "7") == written  # type: ignore[arg-type]


def test_without_a_country_code_a_national_number_stays_as_it_is() -> None:
    assert phone("9991234567", "e164", "") == "9991234567"


def test_call_fields_are_attributes_or_paths_into_the_vendor_payload() -> None:
    event = CallEvent(
        "pbx",
        "1",
        direction=Direction.OUTBOUND,
        line_number="+74950000000",
        raw={"fields": {"deal": {"id": 7}}},
    )
    assert field_value(event, "direction") == "outbound"
    assert field_value(event, "line_number") == "+74950000000"
    assert field_value(event, "raw.fields.deal.id") == 7
    assert field_value(event, "raw.fields.missing") is None
    assert field_value(event, "raw.fields.deal.id.deeper") is None
    for wrong in ("fields.deal", "raw.", "raw..x", "started_at"):
        with pytest.raises(ValueError, match="is not a call field"):
            check_field_path(wrong)


def test_durations_and_times_read_as_a_supervisor_expects() -> None:
    assert hhmmss(187.4) == "00:03:07"
    assert hhmmss(3 * 3600 + 5) == "03:00:05"
    moment = datetime.fromisoformat("2026-11-21T07:00:00+00:00")
    assert local_time(moment, None) == "21.11.2026 07:00:00"
    assert local_time(moment, ZoneInfo("Europe/Moscow")) == "21.11.2026 10:00:00"


def test_a_short_comment_is_one_part_with_its_marker() -> None:
    (part,) = compose(
        "Расшифровка звонка",
        [Line("Тип: входящий звонок")],
        [Line("[00:01] Оператор: <b>Алло</b> & привет")],
        key=KEY,
        markup="html",
        max_bytes=60_000,
    )
    assert part == (
        "Расшифровка звонка<br>Тип: входящий звонок<br><br>"
        "[00:01] Оператор: &lt;b&gt;Алло&lt;/b&gt; &amp; привет<br><br>"
        "callscribe abababababababab 1/1"
    )


@pytest.mark.parametrize("markup", ["html", "text"])
def test_long_comments_split_between_lines_and_inside_none(markup: str) -> None:
    body = [Line(f"[{n:02d}:00] Клиент: " + "слово " * (n % 40)) for n in range(400)]
    body.append(Line("Оператор: " + "оченьдлинноеслово " * 400))  # longer than a part
    parts = compose(
        "Расшифровка звонка",
        [Line("Тип: входящий звонок")],
        body,
        key=KEY,
        markup=markup,  # type: ignore[arg-type]
        max_bytes=4_000,
    )
    separator = "<br>" if markup == "html" else "\n"
    assert all(len(part.encode()) <= 4_000 for part in parts)
    total = len(parts)
    for number, part in enumerate(parts, start=1):
        lines = part.split(separator)
        assert lines[0] == f"Расшифровка звонка (часть {number} из {total})"
        assert lines[1] != ""
        assert lines[-1] == marker(KEY, number, total)
    said = [line for part in parts for line in part.split(separator)[1:-2]]
    assert [line for line in said if line.startswith("[")] == [line.text for line in body[:-1]]
    assert sum(part.count("оченьдлинноеслово") for part in parts) == 400


def test_a_part_is_found_by_its_marker_whatever_the_total() -> None:
    comments = [("11", "чужой комментарий"), ("12", "…<br>" + marker(KEY, 2, 3))]
    assert find_part(comments, KEY, 2) == "12"
    assert find_part(comments, KEY, 1) is None
    assert find_part([(None, marker(KEY, 1, 1))], KEY, 1) == ""


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callscribe.toml"
    path.write_text(text, encoding="utf-8")
    return path


SINKS = """
[sinks.qa]
type = "qolio"
url = "{scheme}://{host}/api/v1/integrations/4f1c"
token = "t"
custom_fields = {{ deal = "raw.fields.deal" }}

[sinks.desk]
type = "usedesk"
url = "{scheme}://{host}"
api_token = "t"
time_zone = "Europe/Moscow"

[sinks.ok]
type = "okdesk"
url = "{scheme}://{host}"
api_token = "t"
employees = {{ "101" = 12 }}
"""


@pytest.mark.parametrize(
    ("scheme", "host", "warned"),
    [
        ("http", "helpdesk.example.com", True),
        ("http", "127.0.0.1:8080", False),
        ("http", "localhost", False),
        ("https", "helpdesk.example.com", False),
    ],
)
def test_plain_http_to_another_machine_is_warned_about_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, scheme: str, host: str, warned: bool
) -> None:
    settings = load_settings(_config(tmp_path, SINKS.format(scheme=scheme, host=host)), environ={})
    with caplog.at_level(logging.WARNING):
        for name, config in settings.sinks.items():
            build_sink(name, config, settings.render)
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == (3 if warned else 0)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (
            "[sinks.a]\ntype='qolio'\nurl='https://q/i'\ntoken='t'\ncustom_fields={x='deal'}\n",
            "sinks.a.custom_fields.x: 'deal' is not a call field",
        ),
        (
            "[sinks.a]\ntype='usedesk'\napi_token='t'\ntime_zone='Moscow'\n",
            "sinks.a.time_zone: unknown time zone 'Moscow'",
        ),
        (
            "[sinks.a]\ntype='usedesk'\napi_token='t'\nsubject='Звонок {phone}'\n",
            "sinks.a.subject: 'Звонок {phone}': the only placeholder is {number}",
        ),
        (
            "[sinks.a]\ntype='okdesk'\nurl='https://a.okdesk.ru'\n",
            "sinks.a.api_token: Field required",
        ),
        (
            "[sinks.a]\ntype='okdesk'\nurl='https://a.okdesk.ru'\napi_token='t'\nphone_format='x'\n",
            "sinks.a.phone_format",
        ),
    ],
)
def test_a_wrong_setting_is_one_line_naming_the_key(
    tmp_path: Path, text: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(_config(tmp_path, text), environ={})
    assert complaint in str(raised.value)
    assert "Value error" not in str(raised.value)
