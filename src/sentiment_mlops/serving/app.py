"""``create_app``: the FastAPI service of DESIGN.md ("HTTP API"), with its resources in lifespan state."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from sentiment_mlops.config import Settings
from sentiment_mlops.serving.errors import install_error_handlers
from sentiment_mlops.serving.metrics import ServingMetrics
from sentiment_mlops.serving.middleware import BodySizeLimit, RequestMetrics
from sentiment_mlops.serving.model_holder import ModelHolder, ModelSnapshot
from sentiment_mlops.serving.model_source import SERVING_ENVIRONMENTS, ModelSource, source_for
from sentiment_mlops.serving.poller import ModelPoller
from sentiment_mlops.serving.prediction_log import PredictionLogWriter
from sentiment_mlops.serving.responses import OrjsonResponse
from sentiment_mlops.serving.routes import admin, docs, feedback, health, metrics, predict, ui
from sentiment_mlops.serving.schemas import CONTENT_PATTERN
from sentiment_mlops.serving.shadow import ShadowScorer, leave_room_for_live, room_for_shadow
from sentiment_mlops.serving.state import ServingState

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.child_writer import ChildWriter
    from sentiment_mlops.store.journal import PredictionJournal

logger = logging.getLogger(__name__)
TITLE = "sentiment-mlops"


class ServerMonitor(Protocol):
    """What a started monitor loop offers the app: stopping it with the app."""

    def stop(self) -> None: ...


class ServerMonitorFactory(Protocol):
    """Starts the service's own monitor loop (``monitoring.watch.start_server_monitor``), or returns None
    when the settings leave it off."""

    def __call__(self, settings: Settings, *, environment: str, store: PredictionStore,
                 current_model: Callable[[], tuple[str | None, dict[str, Any] | None]],
                 read_metrics: Callable[[], str], metrics_registry: CollectorRegistry | None = None
                 ) -> ServerMonitor | None: ...


def _model_versions(snapshot: ModelSnapshot) -> dict[str, str | None]:
    return {"primary": snapshot.primary.version if snapshot.primary else None,
            "canary": snapshot.canary.version if snapshot.canary else None,
            "shadow": snapshot.shadow.version if snapshot.shadow else None}


def _openapi_with_limits(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """FastAPI's document plus the limits that are settings (so clients and schemathesis know them)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.get("components", {}).get("schemas", {})
        text_limits = {"minLength": 1, "maxLength": settings.max_text_length, "pattern": CONTENT_PATTERN}
        if "PredictRequest" in components:
            components["PredictRequest"]["properties"]["text"].update(text_limits)
        if "BatchRequest" in components:
            texts = components["BatchRequest"]["properties"]["texts"]
            texts.update({"minItems": 1, "maxItems": settings.max_batch_size})
            texts["items"].update(text_limits)
        app.openapi_schema = schema
        return schema

    return openapi


def _open_store(settings: Settings) -> PredictionStore:
    from sentiment_mlops.store import PredictionStore

    return PredictionStore(settings.store_url)


def _start_writer(settings: Settings, store: PredictionStore,
                  serving_metrics: ServingMetrics) -> tuple[PredictionLogWriter | None, ChildWriter | None]:
    """The prediction log's writer (None when SENTIMENT_MLOPS_LOG_PREDICTIONS is off), started, and the child
    process it inserts through (None: SENTIMENT_MLOPS_LOG_WRITER_PROCESS is off or the store is in memory)."""
    if not settings.log_predictions:
        return None, None
    from sentiment_mlops.store.child_writer import ChildWriter, writes_in_child

    sink = None
    if settings.log_writer_process and writes_in_child(store.url):
        sink = ChildWriter(store.url.render_as_string(hide_password=False))
        sink.start()  # now, so that the first requests' rows do not wait for it to start
    writer = PredictionLogWriter(store, queue_size=settings.log_queue_size, batch_size=settings.log_batch_size,
                                 journal=_open_journal(settings), flush_interval=settings.log_flush_interval,
                                 retry_seconds=settings.log_retry_seconds, observer=serving_metrics, sink=sink)
    writer.start()  # its replayer first replays what stopped servers left in the journal
    return writer, sink


def _preload_shadow(sink: ChildWriter | None, old: ModelSnapshot | None, new: ModelSnapshot) -> None:
    """Hand a new shadow version to the store writer process before its first rows (see ``ChildWriter.preload``:
    it then holds scikit-learn, ~140 MiB of resident memory, 204 MiB against 64 MiB without)."""
    if sink is not None and new.shadow is not None and (old is None or old.shadow is None
                                                         or old.shadow.key != new.shadow.key):
        sink.preload(new.shadow)


def _open_journal(settings: Settings) -> PredictionJournal:
    from sentiment_mlops.store.journal import PredictionJournal, default_journal_dir

    directory = settings.journal_dir or default_journal_dir(settings.store_url)
    return PredictionJournal(directory, max_bytes=settings.journal_max_bytes,
                             segment_bytes=settings.journal_segment_bytes)


def _start_monitor(settings: Settings, environment: str, store: PredictionStore, holder: ModelHolder,
                   serving_metrics: ServingMetrics, start_server_monitor: ServerMonitorFactory | None
                   ) -> ServerMonitor | None:
    """The service's own monitor loop (SENTIMENT_MLOPS_MONITOR_IN_SERVER); one worker leads, the rest idle."""
    if start_server_monitor is None:
        if settings.monitor_in_server:
            logger.warning("SENTIMENT_MLOPS_MONITOR_IN_SERVER is set, but this app was built without the monitor "
                           "loop: build it with sentiment_mlops.service.create_service (as `serve` does)")
        return None

    def current_model() -> tuple[str | None, dict[str, Any] | None]:
        primary = holder.snapshot.primary
        return (primary.version, primary.loaded.profile) if primary is not None else (None, None)

    return start_server_monitor(settings, environment=environment, store=store, current_model=current_model,
                                read_metrics=lambda: serving_metrics.render()[0].decode(),
                                metrics_registry=serving_metrics.registry)


def _start_shadow(settings: Settings, environment: str, writer: PredictionLogWriter | None,
                  serving_metrics: ServingMetrics) -> ShadowScorer | None:
    """Production's shadow scorer; none elsewhere, nor without the prediction log its rows go to."""
    if environment != "production" or writer is None:
        return None
    from sentiment_mlops.store.child_writer import ChildWriter

    sink = writer.sink
    shadow = ShadowScorer(queue_size=settings.shadow_queue_size, log=leave_room_for_live(writer),
                          log_text=settings.log_text, metrics_registry=serving_metrics.registry,
                          in_store_writer=isinstance(sink, ChildWriter), room=room_for_shadow(writer))
    if isinstance(sink, ChildWriter):
        sink.on_shadow_scored = shadow.count_scored
        writer.on_unscored_dropped = shadow.count_unscored
    shadow.start()
    return shadow


def _start_retention(settings: Settings, store: PredictionStore) -> ServerMonitor | None:
    """Prune the prediction log now and hourly when SENTIMENT_MLOPS_RETENTION_DAYS is set."""
    if settings.retention_days is None:
        return None
    from sentiment_mlops.serving.retention import RetentionLoop

    retention = RetentionLoop(store, timedelta(days=settings.retention_days))
    retention.start()
    return retention


def create_app(settings: Settings, *, environment: str, store: PredictionStore | None = None,
               model_source: ModelSource | None = None,
               initial_snapshot: ModelSnapshot | None = None, poll: bool = True,
               extra_routers: Sequence[APIRouter] = (),
               server_monitor: ServerMonitorFactory | None = None) -> FastAPI:
    """The inference service for ``environment`` (local | staging | production).

    ``store`` defaults to ``PredictionStore(settings.store_url)`` (closed with the app when created here);
    ``model_source`` defaults to ``models/`` for local and the registry alias otherwise; ``initial_snapshot``
    lets ``serve`` hand over the model it already loaded and verified; ``poll=False`` disables the background
    alias poller (POST /admin/reload still refreshes); ``extra_routers`` are included after the service's own
    (their handlers reach the shared resources through ``serving.state.serving_state(request)``);
    ``server_monitor`` starts the service's own monitor loop (``monitoring.watch.start_server_monitor``).
    ``sentiment_mlops.service.create_service`` passes the dashboard and the monitor loop: this package
    depends on neither.
    """
    if environment not in SERVING_ENVIRONMENTS:
        from sentiment_mlops.errors import ConfigurationError

        raise ConfigurationError(f"unknown environment {environment!r}; expected one of "
                                 f"{', '.join(SERVING_ENVIRONMENTS)}")
    serving_metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        own_store = store is None
        the_store = store if store is not None else await run_in_threadpool(_open_store, settings)
        source = model_source
        if source is None:
            source = await run_in_threadpool(source_for, settings, environment)
        holder = ModelHolder(initial_snapshot)

        def on_swap(old: ModelSnapshot, new: ModelSnapshot) -> None:
            serving_metrics.set_model(environment, _model_versions(old), _model_versions(new))
            serving_metrics.model_reloads.labels("swapped").inc()
            _preload_shadow(sink, old, new)  # in the poller's thread: the requests do not wait for it

        poller = ModelPoller(holder, source, environment=environment, interval=settings.poll_seconds,
                             store=the_store, on_swap=on_swap,
                             on_failure=lambda _reason: serving_metrics.model_reloads.labels("failed").inc())
        writer, sink = _start_writer(settings, the_store, serving_metrics)
        shadow = _start_shadow(settings, environment, writer, serving_metrics)
        serving_metrics.set_model(environment, {}, _model_versions(holder.snapshot))
        await run_in_threadpool(poller.refresh)
        _preload_shadow(sink, None, holder.snapshot)  # a server that starts with a shadow, before it answers
        if poll:
            poller.start()
        retention = _start_retention(settings, the_store)  # None unless SENTIMENT_MLOPS_RETENTION_DAYS is set
        # None unless SENTIMENT_MLOPS_MONITOR_IN_SERVER is set.
        monitor = await run_in_threadpool(_start_monitor, settings, environment, the_store, holder, serving_metrics,
                                          server_monitor)
        state = ServingState(settings=settings, environment=environment, holder=holder, poller=poller,
                             store=the_store, metrics=serving_metrics, writer=writer, shadow=shadow)
        # Everything loaded so far (MLflow, scikit-learn, the model's vocabulary) lives as long as the
        # process: freezing it keeps the collector from walking it again on every full collection, which
        # otherwise shows up as p99 spikes of tens of milliseconds once logging allocates per request.
        gc.collect()
        gc.freeze()
        try:
            yield {"serving": state}
        finally:
            for loop in (monitor, retention, shadow):  # the shadow before the writer: its rows go through its drain
                if loop is not None:
                    await run_in_threadpool(loop.stop)
            poller.stop()
            if writer is not None:
                await run_in_threadpool(writer.close, settings.log_drain_seconds)
                if sink is not None:
                    await run_in_threadpool(sink.close)
            source.close()
            if own_store:
                the_store.close()

    # docs_url/redoc_url off: routes.docs serves both pages with locally installed assets instead of a CDN.
    app = FastAPI(title=TITLE, version=_package_version(), lifespan=lifespan, default_response_class=OrjsonResponse,
                  docs_url=None, redoc_url=None,
                  description=f"Sentiment classifier ({environment}): negative / neutral / positive.")
    for router in (predict.router, feedback.router, health.router, admin.router, metrics.router, ui.router, docs.router,
                   *extra_routers):
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=serving_metrics)
    app.openapi = _openapi_with_limits(app, settings)  # type: ignore[method-assign]
    return app


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sentiment-mlops")
    except PackageNotFoundError:
        return "0+unknown"
