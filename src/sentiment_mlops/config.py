"""Settings, read from the environment (prefix ``SENTIMENT_MLOPS_``) and built once by the caller."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EXPERIMENT_NAME = "sentiment-analysis"
REGISTERED_MODEL_NAME = "SentimentAnalysisModel"
ENVIRONMENTS = ("staging", "production")
ALIASES = ("staging", "production", "canary")


class Settings(BaseSettings):
    """Everything that can be configured, with the defaults of DESIGN.md."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_MLOPS_", extra="ignore")

    models_dir: Path = Path("models")
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
    admin_token: str | None = None
    poll_seconds: float = Field(default=5.0, gt=0)
    log_queue_size: int = Field(default=10_000, ge=1)
    log_batch_size: int = Field(default=500, ge=1)
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
    # Single-text calls the gate times per round for that p99 (deployment/gate.py, like its LATENCY_CALLS).
    gate_latency_samples: int = Field(default=200, ge=1)

    @field_validator("admin_token")
    @classmethod
    def _refuse_weak_token(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError(
                f"SENTIMENT_MLOPS_ADMIN_TOKEN must be at least 16 characters, got {len(value)}; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value
