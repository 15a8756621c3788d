"""How speech windows are cut into decoder batches for the model workers."""

from __future__ import annotations

from callscribe.transcription.engine import _finish, _schedule

SECOND = 16_000


def windows_of(batches: list[tuple[str, int, list[int]]]) -> list[int]:
    return sorted(i for _, _, indexes in batches for i in indexes)


def test_groups_that_balance_each_other_stay_whole() -> None:
    # The shared samples: five 20 s windows, four of 16 s, three of 8 s, one of 12 s.
    groups = {
        ("ru", 20 * SECOND): [0, 1, 2, 3, 4],
        ("ru", 16 * SECOND): [5, 6, 7, 8],
        ("ru", 8 * SECOND): [9, 10, 11],
        ("ru", 12 * SECOND): [12],
    }
    batches = _schedule(groups, batch_size=6, workers=2)
    assert sorted(len(indexes) for _, _, indexes in batches) == [1, 3, 4, 5]
    assert windows_of(batches) == list(range(13))
    assert batches[0][2] == [0, 1, 2, 3, 4]  # the costliest goes first


def test_one_group_is_split_so_that_no_worker_stands_idle() -> None:
    batches = _schedule({("ru", 20 * SECOND): list(range(6))}, batch_size=6, workers=2)
    assert [len(indexes) for _, _, indexes in batches] == [3, 3]


def test_batches_never_exceed_the_batch_size_and_keep_one_bucket() -> None:
    groups = {("ru", 8 * SECOND): list(range(20)), ("en", 8 * SECOND): list(range(20, 23))}
    batches = _schedule(groups, batch_size=6, workers=2)
    assert all(len(indexes) <= 6 for _, _, indexes in batches)
    assert all(language == "en" for language, _, indexes in batches if indexes[0] >= 20)
    assert windows_of(batches) == list(range(23))


def test_single_windows_are_not_split_further() -> None:
    groups = {("ru", 20 * SECOND): [0], ("ru", 4 * SECOND): [1]}
    batches = _schedule(groups, batch_size=6, workers=4)
    assert sorted(windows_of(batches)) == [0, 1]
    assert _finish(batches, 4) == 20 * SECOND
