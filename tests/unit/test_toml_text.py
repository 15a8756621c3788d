"""``config show``'s TOML reads back to the same values, whatever the strings hold."""

from __future__ import annotations

import math
import tomllib

from callscribe.config.toml_text import dumps


def test_tricky_values_read_back() -> None:
    data = {
        "top": 'line\nbreak "quoted" \\ tab\t del\x7f ё',
        "unset": None,
        "numbers": [1, 2.5, -0.0, 1e300],
        "table": {
            "dotted.key": True,
            "space key": "x",
            "empty": {},
            "inline": [{"a": 1}, 2, [3, None]],
            "deep": {"deeper": {"leaf": "y"}},
        },
        "routes": [
            {"sinks": ["a"], "where": {"any": [{"raw.x": {"gt": 5}}, {"raw.y": "z"}]}},
            {"sinks": ["b"], "calls": "all"},
        ],
        "empty_list": [],
    }
    text = dumps(data)
    assert "# unset is not set" in text
    back = tomllib.loads(text)
    expected = {k: v for k, v in data.items() if k != "unset"}
    expected["table"]["inline"] = [{"a": 1}, 2, [3]]  # type: ignore[index]
    assert back == expected


def test_special_floats() -> None:
    back = tomllib.loads(dumps({"a": math.inf, "b": -math.inf, "c": math.nan}))
    assert back["a"] == math.inf
    assert back["b"] == -math.inf
    assert math.isnan(back["c"])
