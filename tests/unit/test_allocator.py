"""The engine's cap on glibc malloc arenas, and the administrator's say over it."""

from __future__ import annotations

import ctypes

import pytest

from callscribe.transcription.allocator import limit_arenas


def test_an_administrators_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_arenas() is False


def test_arenas_are_capped_where_the_c_library_is_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    glibc = hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    assert limit_arenas() is glibc
