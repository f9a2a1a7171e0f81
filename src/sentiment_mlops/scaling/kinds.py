"""The engines ``--engine`` chooses from (its own module: the command line imports it without pandas)."""

from __future__ import annotations

from enum import StrEnum


class EngineKind(StrEnum):
    LOCAL = "local"
    DASK = "dask"
