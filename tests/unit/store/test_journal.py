"""The prediction journal: fsync'd segments, a byte bound, torn lines, and claims that never overlap."""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentiment_mlops.store.journal import PredictionJournal, default_journal_dir


def _rows(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "created_at": datetime(2026, 11, 30, 12, 0, i % 60, tzinfo=UTC),
             "text": f"text {i}", "probabilities": {"positive": 0.5}} for i in range(n)]


def _replay_all(journal: PredictionJournal) -> list[dict[str, Any]]:
    rows = []
    for segment in journal.take_segments():
        rows.extend(segment.read())
        journal.remove(segment)
    return rows


def test_rows_come_back_as_written_and_a_replayed_segment_is_deleted(tmp_path: Path) -> None:
    journal = PredictionJournal(tmp_path / "journal", max_bytes=1 << 20, segment_bytes=500)
    rows = _rows(20)
    assert journal.append(rows[:10]) == 10 and journal.append(rows[10:]) == 10
    assert journal.pending_rows == 20 and len(list((tmp_path / "journal").iterdir())) > 1  # rolled over
    assert _replay_all(journal) == rows
    assert journal.pending_rows == 0 and not list((tmp_path / "journal").iterdir())
    journal.close()


def test_append_stops_at_the_byte_bound_and_says_how_many_fit(tmp_path: Path) -> None:
    one_row = len(orjson.dumps(_rows(1)[0])) + 1
    journal = PredictionJournal(tmp_path, max_bytes=one_row * 3 + 1)
    assert journal.append(_rows(5)) == 3
    assert journal.append(_rows(1, "late")) == 0
    assert len(_replay_all(journal)) == 3
    assert journal.append(_rows(2, "after")) == 2  # replayed rows no longer count against the bound
    journal.close()


def test_a_refused_write_journals_nothing_and_leaves_no_half_batch(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    journal = PredictionJournal(tmp_path, max_bytes=1 << 20)
    assert journal.append(_rows(2, "ok")) == 2
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        if len(data) > 10:
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    assert journal.append(_rows(3, "lost")) == 0
    monkeypatch.undo()
    assert [row["id"] for row in _replay_all(journal)] == ["ok0", "ok1"]
    journal.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = PredictionJournal(tmp_path, max_bytes=1 << 20)
    journal.append(_rows(2))
    (segment,) = journal.take_segments()
    os.write(segment.fd, b'{"id": "torn", "text": "the process di')
    assert [row["id"] for row in segment.read()] == ["r0", "r1"]
    journal.close()


def test_a_live_writer_keeps_its_segments_and_a_dead_ones_are_claimed_once(tmp_path: Path) -> None:
    writer = PredictionJournal(tmp_path, max_bytes=1 << 20)
    writer.append(_rows(4, "w"))
    first, second = PredictionJournal(tmp_path, max_bytes=1 << 20), PredictionJournal(tmp_path, max_bytes=1 << 20)
    assert first.take_segments() == []  # the writer holds the lock on its segment
    writer.close()  # as the kernel does when the process dies
    claimed = first.take_segments()
    assert [len(segment.read()) for segment in claimed] == [4] and first.pending_rows == 4
    assert second.take_segments() == []  # claimed by first
    first.give_back(claimed[0])
    first.close()  # not replayed: stays on disk for the next process
    assert [row["id"] for row in _replay_all(second)] == ["w0", "w1", "w2", "w3"]
    second.close()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///var/db/predictions.db", Path("var/db/journal")),
    ("sqlite:////srv/logs/p.db", Path("/srv/logs/journal")),
    ("postgresql://u@db:5432/x", Path("logs/journal")),
    ("sqlite://", Path("logs/journal")),
])
def test_the_default_journal_sits_beside_a_sqlite_store(url: str, expected: Path) -> None:
    assert default_journal_dir(url) == expected
