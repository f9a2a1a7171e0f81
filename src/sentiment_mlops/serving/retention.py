"""The server's retention (``SENTIMENT_MLOPS_RETENTION_DAYS``): prune the prediction log now and every hour.

Each worker of ``serve --workers N`` runs one; the deletes are batched and each subtracts exactly the rows
it removed from the running totals, so workers pruning together neither double-count nor block the
prediction writer for more than a batch.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sentiment_mlops.errors import SentimentMLOpsError
from sentiment_mlops.store import PredictionStore
from sentiment_mlops.store.retention import prune

logger = logging.getLogger(__name__)
PRUNE_INTERVAL_SECONDS = 3600.0


class RetentionLoop:
    """A daemon thread that deletes predictions older than ``older_than`` every ``interval`` seconds."""

    def __init__(self, store: PredictionStore, older_than: timedelta, *,
                 interval: float = PRUNE_INTERVAL_SECONDS) -> None:
        self.store = store
        self.older_than = older_than
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prediction-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def prune_once(self) -> int:
        """Delete what is past retention now; a store failure is logged and retried next time."""
        try:
            result = prune(self.store, self.older_than)
        except SentimentMLOpsError as exc:
            logger.warning("retention: pruning the prediction log failed (retrying in %.0f s): %s",
                           self.interval, exc)
            return 0
        if result.deleted:
            logger.info("retention: deleted %d predictions created before %s", result.deleted,
                        result.cutoff.isoformat(timespec="seconds"))
        return result.deleted

    def _run(self) -> None:
        while not self._stop.is_set():
            self.prune_once()
            self._stop.wait(self.interval)
