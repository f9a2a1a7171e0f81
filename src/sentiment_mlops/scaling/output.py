"""Where a batch job writes: a Parquet dataset directory, one file per partition, written atomically.

``OUT.parquet/`` holds ``_job.json`` (what was scored with what) and ``part-FFFFF-CCCCCC.parquet`` files
(input file F, chunk C). A rerun of the same job skips the parts already there; a different job (other
inputs, model version or options) refuses to mix its rows into them. ``pandas.read_parquet(OUT)`` reads
the whole directory as one table.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.integrity import atomic_write_bytes

JOB_FILE = "_job.json"


@dataclass(frozen=True)
class ScoreOutput:
    """The output directory of one job, identified by ``identity``."""

    path: Path
    identity: dict[str, Any]

    @property
    def job_key(self) -> str:
        """A short hash of the job's identity: the prefix of its logged prediction ids."""
        encoded = json.dumps(self.identity, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]

    @staticmethod
    def check_path(path: Path) -> None:
        """Refuse an ``--out`` that cannot be a dataset directory, before anything is loaded."""
        if path.exists() and not path.is_dir():
            raise ConfigurationError(f"--out {path} is a file; --out names a directory of Parquet parts "
                                     "(e.g. scores.parquet/), which pandas and pyarrow read as one table")

    def prepare(self) -> None:
        """Create the directory, or check that the one there belongs to this same job."""
        self.check_path(self.path)
        job_file = self.path / JOB_FILE
        if job_file.is_file():
            previous = json.loads(job_file.read_text())
            if previous != self.identity:
                changed = sorted(k for k in self.identity.keys() | previous.keys()
                                 if self.identity.get(k) != previous.get(k))
                raise ConfigurationError(f"{self.path} holds the output of another job (different "
                                         f"{', '.join(changed)}); remove it or choose another --out")
            return
        if self.path.is_dir() and any(self.path.iterdir()):
            raise ConfigurationError(f"{self.path} is not empty and holds no {JOB_FILE}; choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(job_file, json.dumps(self.identity, indent=2, sort_keys=True).encode())

    def part(self, file_index: int, chunk_index: int) -> Path:
        return self.path / f"part-{file_index:05d}-{chunk_index:06d}.parquet"


def write_temporary(part: Path, frame: pd.DataFrame) -> Path:
    """``frame`` written to a hidden file beside ``part`` (readers of the directory skip it), unique to this
    process and call; ``os.replace`` it onto ``part`` to publish it."""
    temporary = part.with_name(f".{part.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    frame.to_parquet(temporary, index=False)
    return temporary


def write_part(part: Path, frame: pd.DataFrame) -> None:
    """Write one part atomically: a stopped job leaves whole parts or none."""
    os.replace(write_temporary(part, frame), part)

