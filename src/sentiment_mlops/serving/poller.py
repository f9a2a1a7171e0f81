"""Follow the alias: re-resolve every few seconds (and on demand), load the new version beside the old one,
then swap. A failed load keeps the old model, marks the server degraded and records an alert."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentiment_mlops.errors import SentimentMLOpsError
from sentiment_mlops.serving.model_holder import ModelHolder, ModelSnapshot, ServedModel
from sentiment_mlops.serving.model_source import ModelSource, Target
from sentiment_mlops.store.alerts import MODEL_LOAD_FAILED

if TYPE_CHECKING:
    from sentiment_mlops.store import PredictionStore

logger = logging.getLogger(__name__)

ALERT_RULE = MODEL_LOAD_FAILED
RETAINED_MODELS = 2  # recently replaced versions kept in memory for an instant rollback


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did."""

    changed: bool
    model_version: str | None
    canary_version: str | None
    canary_percent: float
    degraded_reason: str | None


class ModelPoller:
    """Keeps ``holder`` in step with ``source``; ``refresh`` is safe to call from any thread."""

    def __init__(self, holder: ModelHolder, source: ModelSource, *, environment: str, interval: float,
                 store: PredictionStore | None = None,
                 on_swap: Callable[[ModelSnapshot, ModelSnapshot], None] | None = None,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self.holder = holder
        self.source = source
        self.environment = environment
        self.interval = interval
        self.store = store
        self.on_swap = on_swap
        self.on_failure = on_failure
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_target: Target | None = None
        # Models swapped out recently stay loaded, so a rollback to them is a reference swap, not a download.
        self._retired: OrderedDict[str, ServedModel] = OrderedDict()

    # -- the decision ---------------------------------------------------------------------------------
    def _reuse(self, key: str | None, snapshot: ModelSnapshot) -> ServedModel | None:
        for model in (snapshot.primary, snapshot.canary, snapshot.shadow):
            if model is not None and key is not None and model.key == key:
                return model
        return self._retired.get(key) if key is not None else None

    def _retire(self, old: ModelSnapshot, new: ModelSnapshot) -> None:
        kept = {m.key for m in (new.primary, new.canary, new.shadow) if m is not None}
        for model in (old.primary, old.canary, old.shadow):
            if model is not None and model.key not in kept:
                self._retired[model.key] = model
                self._retired.move_to_end(model.key)
        for key in kept:
            self._retired.pop(key, None)
        while len(self._retired) > RETAINED_MODELS:
            self._retired.popitem(last=False)

    def _load(self, key: str, snapshot: ModelSnapshot) -> ServedModel:
        reused = self._reuse(key, snapshot)
        if reused is not None:
            return reused
        served = ServedModel.from_loaded(self.source.load(key), key)
        served.scorer.predict_proba(["smoke test"])  # a model that cannot score must not be swapped in
        return served

    def refresh(self, *, force: bool = False) -> RefreshResult:
        """Re-resolve the source and swap if it moved; never raises for a load failure."""
        with self._lock:
            snapshot = self.holder.snapshot
            try:
                target = self.source.resolve()
            except Exception as exc:  # an unreachable registry must not stop the server answering
                return self._fail(f"cannot resolve {self.source.description}: {exc}", None, snapshot)
            if target.primary is None:
                reason = target.missing_reason or f"nothing to serve at {self.source.description}"
                if snapshot.primary is not None:
                    reason += f"; still serving version {snapshot.primary.version}"
                self.holder.degraded_reason = reason
                return self._result(False, snapshot)
            if self._unchanged(target, snapshot):
                self.holder.degraded_reason = None
                return self._result(False, snapshot)
            if not force and target == self._failed_target:
                return self._result(False, snapshot)  # do not download a broken version every few seconds
            try:
                primary = self._load(target.primary, snapshot)
                canary = self._load(target.canary, snapshot) if target.canary else None
                shadow = self._load(target.shadow, snapshot) if target.shadow else None
            except Exception as exc:  # whatever breaks a load (download, checksum, unpickling), keep the old
                self._failed_target = target
                return self._fail(f"loading {self.source.description} failed: {exc}", target, snapshot)
            new = ModelSnapshot(primary, canary, target.canary_percent if canary else 0.0, shadow,
                                target.shadow_percent if shadow else 0.0)
            self.holder.swap(new)
            self._retire(snapshot, new)
            self.holder.degraded_reason = None
            self._failed_target = None
            self._resolve_alert()
            if self.on_swap is not None:
                self.on_swap(snapshot, new)
            logger.info("serving version %s (canary %s at %s%%)", primary.version,
                        canary.version if canary else "-", new.canary_percent)
            return self._result(True, new)

    @staticmethod
    def _unchanged(target: Target, snapshot: ModelSnapshot) -> bool:
        if snapshot.primary is None or snapshot.primary.key != target.primary:
            return False
        current_canary = snapshot.canary.key if snapshot.canary else None
        current_shadow = snapshot.shadow.key if snapshot.shadow else None
        return current_canary == target.canary and (target.canary is None
                                                     or snapshot.canary_percent == target.canary_percent) \
            and current_shadow == target.shadow and (target.shadow is None
                                                     or snapshot.shadow_percent == target.shadow_percent)

    def _result(self, changed: bool, snapshot: ModelSnapshot) -> RefreshResult:
        return RefreshResult(changed, snapshot.primary.version if snapshot.primary else None,
                             snapshot.canary.version if snapshot.canary else None, snapshot.canary_percent,
                             self.holder.degraded_reason)

    def _fail(self, reason: str, target: Target | None, snapshot: ModelSnapshot) -> RefreshResult:
        if snapshot.primary is not None:
            reason += f"; still serving version {snapshot.primary.version}"
        logger.error("%s", reason)
        self.holder.degraded_reason = reason
        self._record_alert(reason, target)
        if self.on_failure is not None:
            self.on_failure(reason)
        return self._result(False, snapshot)

    # -- the alert ------------------------------------------------------------------------------------
    def _record_alert(self, reason: str, target: Target | None) -> None:
        if self.store is None:
            return
        try:
            if self.store.open_alert(ALERT_RULE, self.environment) is not None:
                return
            self.store.record_alert(
                rule=ALERT_RULE, severity="critical", environment=self.environment,
                model_version=target.primary if target else None, status="firing", message=reason,
                details={"source": self.source.description,
                         "target": {"primary": target.primary, "canary": target.canary} if target else None})
        except SentimentMLOpsError as exc:
            logger.error("could not record the alert: %s", exc)

    def _resolve_alert(self) -> None:
        if self.store is None:
            return
        try:
            alert = self.store.open_alert(ALERT_RULE, self.environment)
            if alert is not None:
                self.store.resolve_alert(alert["id"])
        except SentimentMLOpsError as exc:
            logger.error("could not resolve the alert: %s", exc)

    # -- the thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # the poller must outlive any bug in one refresh; the log has the traceback
                logger.exception("model refresh failed")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-poller", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
