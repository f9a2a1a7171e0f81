"""The prediction journal: where logged predictions wait, on local disk, while the store cannot take them.

Append-only JSON Lines segments under one directory, fsync'd on every append, bounded in bytes. A segment
belongs to the process holding an exclusive ``flock`` on it: its writer, for as long as it lives. The
kernel drops the lock when the process dies (even by ``kill -9``), so the segments of a dead process are
claimed by whichever live process locks them first, replayed into the store and deleted; two processes
never replay one segment. Rows are replayed with ``PredictionStore.insert_new_predictions``, so a batch
whose first commit did in fact succeed is not stored twice.

>>> import tempfile
>>> from datetime import UTC, datetime
>>> journal = PredictionJournal(Path(tempfile.mkdtemp()) / "journal", max_bytes=1 << 20)
>>> journal.append([{"id": "a1", "created_at": datetime(2026, 11, 30, tzinfo=UTC), "text": "hi"}])
1
>>> [segment.read() for segment in journal.take_segments()]
[[{'id': 'a1', 'created_at': datetime.datetime(2026, 11, 30, 0, 0, tzinfo=datetime.timezone.utc), 'text': 'hi'}]]
>>> journal.close()
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 4 * 1024 * 1024  # a replay reads one segment into memory: keep each small
SUFFIX = ".jsonl"


def default_journal_dir(store_url: str) -> Path:
    """``journal/`` beside a SQLite store file; ``logs/journal`` for any other store."""
    try:
        url = make_url(store_url)
    except Exception:  # the store reports a malformed URL itself, with a better message
        return Path("logs") / "journal"
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" \
            and not database.startswith("file:"):
        return Path(database).expanduser().parent / "journal"
    return Path("logs") / "journal"


def _encode(rows: Sequence[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(row) + b"\n" for row in rows]


def _decode(line: bytes) -> dict[str, Any]:
    row: dict[str, Any] = orjson.loads(line)
    if isinstance(row.get("created_at"), str):
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    return row


class Segment:
    """One journal file, locked by this process while it holds the open descriptor."""

    def __init__(self, path: Path, fd: int, *, rows: int = 0, size: int = 0) -> None:
        self.path = path
        self.fd = fd
        self.rows = rows
        self.size = size

    def __repr__(self) -> str:
        return f"Segment({self.path.name!r}, rows={self.rows}, size={self.size})"

    def read(self) -> list[dict[str, Any]]:
        """Every complete row; a torn last line (the process died mid-append) is skipped and logged."""
        with open(self.fd, "rb", closefd=False) as handle:
            handle.seek(0)
            data = handle.read()
        rows = []
        for number, line in enumerate(data.splitlines(keepends=True), start=1):
            if not line.endswith(b"\n"):
                logger.warning("journal %s: skipping a torn last line (%d bytes)", self.path, len(line))
                break
            try:
                rows.append(_decode(line))
            except (orjson.JSONDecodeError, ValueError) as exc:
                logger.error("journal %s: skipping unreadable line %d: %s", self.path, number, exc)
        return rows


class PredictionJournal:
    """This process's journal segments under ``directory``, at most ``max_bytes`` of them not yet replayed.

    Thread-safe: the serving writer appends, its replayer takes segments, a request spills into it.
    """

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._current: Segment | None = None
        self._sealed: list[Segment] = []  # ours (written or claimed), not yet replayed
        self._replaying: list[Segment] = []  # handed out by take_segments, not yet removed or returned
        self._sequence = 0
        self._prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def pending_rows(self) -> int:
        """Rows in this process's segments (written or claimed) that are not yet in the store."""
        with self._lock:
            return sum(segment.rows for segment in self._segments())

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return sum(segment.size for segment in self._segments())

    def _segments(self) -> list[Segment]:
        current = [self._current] if self._current is not None else []
        return [*self._sealed, *self._replaying, *current]

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write ``rows`` and fsync; return how many were journaled, a prefix of ``rows``.

        Fewer than ``len(rows)`` when the bound (``max_bytes``) is reached or the disk refuses the write;
        the caller counts the rest as dropped.
        """
        lines = _encode(rows)
        with self._lock:
            room = self.max_bytes - sum(segment.size for segment in self._segments())
            fitting = 0
            size = 0
            for line in lines:
                if size + len(line) > room:
                    break
                size += len(line)
                fitting += 1
            if not fitting:
                return 0
            try:
                segment = self._writable_segment(size)
                self._write(segment, b"".join(lines[:fitting]))
            except OSError as exc:
                logger.error("cannot write %d predictions to the journal in %s: %s", fitting, self.directory, exc)
                return 0
            segment.rows += fitting
            segment.size += size
            return fitting

    def _writable_segment(self, size: int) -> Segment:
        """The segment to append ``size`` bytes to: a new one when they would take the current one past
        ``segment_bytes`` (one batch larger than that gets a segment of its own)."""
        if self._current is not None and self._current.size and self._current.size + size > self.segment_bytes:
            self._sealed.append(self._current)
            self._current = None
        if self._current is None:
            self._sequence += 1
            path = self.directory / f"{self._prefix}-{self._sequence:06d}{SUFFIX}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: nobody else can hold it
            self._current = Segment(path, fd)
        return self._current

    @staticmethod
    def _write(segment: Segment, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(segment.fd, view)
                view = view[written:]
            os.fsync(segment.fd)
        except OSError:
            os.ftruncate(segment.fd, segment.size)  # never leave half a batch behind
            raise

    def take_segments(self) -> list[Segment]:
        """Segments to replay, oldest first: this process's (the one being appended to is sealed first) and
        those of dead processes, claimed here. Give each back with ``remove`` or ``give_back``."""
        with self._lock:
            if self._current is not None and self._current.rows:
                self._sealed.append(self._current)
                self._current = None
            claimed = self._claim_orphans()
            taken = [*self._sealed, *claimed]
            self._sealed = []
            self._replaying.extend(taken)
            return taken

    def _claim_orphans(self) -> list[Segment]:
        ours = {segment.path.name for segment in self._segments()}
        claimed = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path.name in ours:
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:  # replayed and removed by another process meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino != path.stat().st_ino:
                    raise FileNotFoundError(path)  # removed (and maybe recreated) after we opened it
            except OSError:  # its writer is alive, or another process claimed it first
                os.close(fd)
                continue
            segment = Segment(path, fd, size=os.fstat(fd).st_size)
            segment.rows = len(segment.read())
            logger.info("claimed journal segment %s (%d rows) left by a stopped process", path.name, segment.rows)
            claimed.append(segment)
        return claimed

    def remove(self, segment: Segment) -> None:
        """The segment's rows are in the store: delete it and drop its lock."""
        with self._lock:
            self._replaying.remove(segment)
            segment.path.unlink(missing_ok=True)
            os.close(segment.fd)

    def give_back(self, segment: Segment) -> None:
        """Replaying failed: keep the segment for the next attempt."""
        with self._lock:
            self._replaying.remove(segment)
            self._sealed.append(segment)

    def close(self) -> None:
        """Drop the locks; segments still holding rows stay on disk for the next process to replay."""
        with self._lock:
            for segment in self._segments():
                if segment.rows == 0 and segment.size == 0:
                    segment.path.unlink(missing_ok=True)
                os.close(segment.fd)
            self._current = None
            self._sealed = []
            self._replaying = []
