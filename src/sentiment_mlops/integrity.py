"""sha256 manifests, atomic writes and file locks: what keeps every artifact on disk whole and trusted."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sentiment_mlops.errors import IntegrityError
from sentiment_mlops.layout import MANIFEST_FILE as MANIFEST_NAME


def text_digest(text: str) -> str:
    """The sha256 (hex) of a text as the prediction log and the feedback split hash it (lone surrogates kept).

    >>> text_digest("late again")[:12]
    '0ab2d0ae15ec'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; artifacts are meant to be read by others
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: object) -> None:
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=False) + "\n").encode())


def build_manifest(directory: Path, names: Iterable[str]) -> dict[str, str]:
    """``{relative name: sha256}`` for the named files of ``directory``."""
    return {name: sha256_file(directory / name) for name in sorted(names)}


def verify_manifest(directory: Path, manifest: dict[str, str]) -> None:
    """Raise ``IntegrityError`` naming the first file that is missing or altered."""
    for name, expected in sorted(manifest.items()):
        path = directory / name
        if not path.is_file():
            raise IntegrityError(f"artifact {name} is missing from {directory}")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(
                f"artifact {name} in {directory} has sha256 {actual[:12]}…, manifest expects {expected[:12]}…; "
                "it was altered after training: retrain or restore it"
            )


def read_manifest(directory: Path) -> dict[str, str]:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise IntegrityError(f"{MANIFEST_NAME} is missing from {directory}; retrain to recreate it")
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path} is not valid JSON: {exc}") from exc
    files = payload.get("files") if isinstance(payload, dict) else None
    if not isinstance(files, dict):
        raise IntegrityError(f"{path} has no 'files' mapping")
    return {str(k): str(v) for k, v in files.items()}


class FileLock:
    """An exclusive ``flock`` on ``path``: held until ``release`` or the process's death (the kernel drops it,
    so a killed holder never leaves a stale lock). ``try_acquire`` never blocks and is idempotent once held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """What the holder wrote into the file (its pid), for messages; empty when unknown."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def try_acquire(self) -> bool:
        import fcntl

        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EWOULDBLOCK: another process holds it
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
