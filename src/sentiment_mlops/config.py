"""Settings, read from the environment (prefix ``SENTIMENT_MLOPS_``) and built once by the caller."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EXPERIMENT_NAME = "sentiment-analysis"
REGISTERED_MODEL_NAME = "SentimentAnalysisModel"


class Environment(StrEnum):
    """Where a model is served from: the models folder (``local``) or the registry alias of that name.

    The enum types query parameters and options; the tuples below are for checks and messages.
    """

    LOCAL = "local"
    STAGING = "staging"
    PRODUCTION = "production"

    @classmethod
    def parse(cls, value: str, *, option: str = "--env") -> Environment:
        """The environment named ``value``; a ``ConfigurationError`` naming the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            from sentiment_mlops.errors import ConfigurationError

            choices = ", ".join(environment.value for environment in cls)
            raise ConfigurationError(f"{option} must be one of {choices}, got {value!r}") from None


SERVING_ENVIRONMENTS: tuple[str, ...] = tuple(environment.value for environment in Environment)
ENVIRONMENTS = SERVING_ENVIRONMENTS[1:]  # the registry-backed ones a promotion can target
CANARY_ALIAS = "canary"
# A version scoring a share of production's requests off the response path (its rows: environment "shadow").
SHADOW_ALIAS = "shadow"
ALIASES = (*ENVIRONMENTS, CANARY_ALIAS, SHADOW_ALIAS)  # what a rollback can move
# Where the deployment history keeps the retraining loop's own steps (no alias has this name).
LOOP_ENVIRONMENT = "loop"


_PASSWORD_IN_NETLOC = re.compile(r"^([^:/@]*):[^@]*@")
_PASSWORD_IN_QUERY = re.compile(r"((?:^|[?&;])(?:password|pass|pwd|secret|token)=)[^&;]*", re.IGNORECASE)


def masked_url(url: str) -> str:
    """``url`` with any password replaced by ``***``: the form every URL the project prints or logs takes.

    >>> masked_url("postgresql://app:s3cret@db:5432/sentiment?password=x&sslmode=require")
    'postgresql://app:***@db:5432/sentiment?password=***&sslmode=require'
    >>> masked_url("sqlite:///logs/predictions.db")
    'sqlite:///logs/predictions.db'
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    netloc, slash, tail = rest.partition("/")
    netloc = _PASSWORD_IN_NETLOC.sub(r"\1:***@", netloc)
    tail = _PASSWORD_IN_QUERY.sub(r"\1***", tail)
    return f"{scheme}://{netloc}{slash}{tail}"


_PASSWORD_IN_TEXT = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)[^@\s/]*@")


def mask_passwords(text: str) -> str:
    """``text`` with the password of every URL in it masked (a driver's message quoting the URL it used).

    >>> mask_passwords("http://alice:pw@host:5000/api failed; see postgresql://u:p@db/x")
    'http://alice:***@host:5000/api failed; see postgresql://u:***@db/x'
    """
    return _PASSWORD_IN_TEXT.sub(r"\1***@", text)


def webhook_display(url: str) -> str:
    """A webhook URL as it may be logged: scheme and host only (a Slack-style URL's path is its secret).

    >>> webhook_display("https://hooks.slack.com/services/T000/B000/XXXX?x=1")
    'https://hooks.slack.com/…'
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


class Settings(BaseSettings):
    """Everything that can be configured, with the defaults of DESIGN.md."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_MLOPS_", extra="ignore")

    models_dir: Path = Path("models")
    # Load the seed-compatible pickles of models/ instead of its skops file. Unpickling runs any code the
    # file holds; off by default (--allow-pickle on predict, drift and serve).
    allow_pickle: bool = False
    tracking_uri: str = Field(
        default="sqlite:///mlflow.db",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "SENTIMENT_MLOPS_TRACKING_URI"),
    )
    experiment_name: str = EXPERIMENT_NAME
    registered_model_name: str = REGISTERED_MODEL_NAME
    store_url: str = "sqlite:///logs/predictions.db"
    log_text: bool = True
    log_predictions: bool = True
    max_text_length: int = Field(default=5000, ge=1)
    max_batch_size: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # What one HTTP request may take (serving/http_guard.py): 431 over the head limits, 408 past the deadline.
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_header_count: int = Field(default=100, ge=8)
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    admin_token: str | None = None
    # POST /feedback changes what live accuracy and auto-rollback see: it needs this token (or the admin
    # token) unless feedback_open is set explicitly (anyone who can reach the server can then label).
    feedback_token: str | None = None
    feedback_open: bool = False
    poll_seconds: float = Field(default=5.0, gt=0)
    log_queue_size: int = Field(default=10_000, ge=1)
    log_batch_size: int = Field(default=500, ge=1)
    # Days of predictions the server keeps (pruned at start and hourly); None keeps everything.
    retention_days: float | None = Field(default=None, gt=0)
    # The writer sends a batch at least this often: a kill -9 loses at most the rows of about one interval.
    log_flush_interval: float = Field(default=0.2, gt=0, le=10)
    log_drain_seconds: float = Field(default=10.0, ge=0)  # SIGTERM: write for this long, journal the rest
    log_retry_seconds: float = Field(default=1.0, gt=0)  # how often a journal is replayed into a failing store
    # The log's inserts run in a child process (store/child_writer.py), so that they never hold the serving
    # process's interpreter lock; false inserts from the writer thread (always so for an in-memory store).
    log_writer_process: bool = True
    journal_dir: Path | None = None  # None: journal/ beside a SQLite store, else logs/journal
    journal_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    journal_segment_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)  # one file; a replay reads one at a time
    # The dashboard's drift reports are computed in one worker process (dashboard/drift_worker.py), so they
    # never hold the serving process's interpreter lock; false computes them on the request's thread.
    dashboard_drift_process: bool = True
    alert_webhook: str | None = None
    alert_cooldown_seconds: float = Field(default=900.0, ge=0)
    monitor_interval_seconds: float = Field(default=60.0, gt=0)
    monitor_in_server: bool = False
    monitor_auto_rollback: bool = False
    bake_minutes: float = Field(default=30.0, ge=0)
    accuracy_floor: float = Field(default=0.55, ge=0, le=1)
    error_rate_threshold: float = Field(default=0.01, ge=0, le=1)
    p95_latency_ms: float = Field(default=50.0, gt=0)
    no_traffic_minutes: float = Field(default=30.0, gt=0)
    estimated_accuracy_drop: float = Field(default=0.05, ge=0, le=1)
    # The promotion gate (deployment/policy.py): see GateRules for what each one means.
    gate_max_macro_f1_drop: float = Field(default=0.01, ge=0, le=1)
    gate_min_macro_f1: float = Field(default=0.50, ge=0, le=1)
    gate_max_p99_latency_ms: float = Field(default=5.0, gt=0)
    # Most macro-F1 a candidate may lose on either held-out set, base or production feedback, vs the incumbent.
    gate_max_feedback_tradeoff: float = Field(default=0.01, ge=0, le=1)
    # Single-text calls the gate times per round for that p99 (deployment/gate.py, like its LATENCY_CALLS).
    gate_latency_samples: int = Field(default=200, ge=1)
    # Replay before promotion and the shadow's evidence (deployment/comparison.py ReplayRules): how many logged
    # texts `promote` replays by default (0 skips), the least agreement with the incumbent, the level of the
    # one-sided test of a labelled-accuracy drop, and the labelled texts below which it is not tested.
    replay_size: int = Field(default=2000, ge=0)
    replay_min_agreement: float = Field(default=0.70, ge=0, le=1)
    replay_accuracy_alpha: float = Field(default=0.05, gt=0, lt=1)
    replay_min_labelled: int = Field(default=30, ge=1)
    # Texts waiting for the shadow version (serving/shadow.py); when full, requests are not shadowed (counted).
    shadow_queue_size: int = Field(default=2000, ge=1)

    @field_validator("admin_token", "feedback_token")
    @classmethod
    def _refuse_weak_token(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError(
                f"SENTIMENT_MLOPS_{str(info.field_name).upper()} must be at least 16 characters, got {len(value)}; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value
