"""The model a server answers with: a primary (and optionally a canary) swapped in as one immutable snapshot.

Handlers read ``holder.snapshot`` once and use that reference for the whole request, so a batch is
scored by one version even if the poller swaps models halfway through it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentiment_mlops.errors import ModelNotFoundError
from sentiment_mlops.serving.scorer import Scorer, compile_scorer

if TYPE_CHECKING:
    from sentiment_mlops.registry import LoadedModel

NO_MODEL_HINT = (
    "no model is loaded; train one with `sentiment-mlops train`, then point the alias at it with "
    "`sentiment-mlops promote VERSION --to staging` (or serve local artifacts with `serve --env local`)"
)


@dataclass(frozen=True)
class ServedModel:
    """A verified model with its compiled scorer."""

    version: str
    scorer: Scorer
    loaded: LoadedModel  # metrics, profile, artifacts_dir for monitoring
    key: str = ""  # what the source resolved (a version, or a manifest digest for local artifacts)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, key: str | None = None) -> ServedModel:
        version = str(loaded.version)
        return cls(version=version, scorer=compile_scorer(loaded.pipeline), loaded=loaded, key=key or version)

    @property
    def classes(self) -> list[str]:
        return self.scorer.classes


@dataclass(frozen=True)
class ModelSnapshot:
    """What answers requests right now."""

    primary: ServedModel | None = None
    canary: ServedModel | None = None
    canary_percent: float = 0.0
    # Production's shadow: scores this share of requests off the request path (serving.shadow), never answers.
    shadow: ServedModel | None = None
    shadow_percent: float = 0.0

    def choose(self, draw: float) -> ServedModel:
        """The model for one request; ``draw`` is uniform in [0, 100)."""
        if self.primary is None:
            raise ModelNotFoundError(NO_MODEL_HINT)
        if self.canary is not None and draw < self.canary_percent:
            return self.canary
        return self.primary


class ModelHolder:
    """Holds the current snapshot; ``swap`` replaces it atomically (one reference assignment)."""

    def __init__(self, snapshot: ModelSnapshot | None = None, *, rng: random.Random | None = None) -> None:
        self._snapshot = snapshot or ModelSnapshot()
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        self.degraded_reason: str | None = None

    @property
    def snapshot(self) -> ModelSnapshot:
        return self._snapshot

    def swap(self, snapshot: ModelSnapshot) -> ModelSnapshot:
        """Install ``snapshot`` and return the previous one."""
        with self._lock:
            previous, self._snapshot = self._snapshot, snapshot
        return previous

    def choose(self) -> ServedModel:
        """The model that answers one request (canary share drawn at random); 503 when there is none."""
        return self._snapshot.choose(self._rng.random() * 100.0)

    @property
    def version(self) -> str | None:
        primary = self._snapshot.primary
        return primary.version if primary is not None else None
