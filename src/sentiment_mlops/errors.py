"""One exception tree for the whole package.

::

    SentimentMLOpsError
     ├── DataError               the training or drift data cannot be used (bad file, column, labels)
     ├── ConfigurationError      a setting or command-line value is invalid
     ├── ModelNotFoundError      no model behind a path, version or alias
     ├── IntegrityError          an artifact is missing or does not match its sha256
     ├── RegistryError           the MLflow tracking server or registry refused an operation
     ├── PromotionRefusedError   the promotion gate failed (carries the report)
     ├── NotFoundError           an unknown prediction id or version in the store
     ├── StoreError              the prediction store cannot be reached or written
     └── ClusterError            the distributed engine (Dask) cannot be reached or failed a task

The CLI maps these to exit codes in ``cli/app.py`` and the service to HTTP status codes in
``serving/errors.py``; nothing else decides how an error is shown.
"""

from __future__ import annotations

from typing import Any


class SentimentMLOpsError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(SentimentMLOpsError):
    """The data cannot be used as given."""


class ConfigurationError(SentimentMLOpsError):
    """A setting or argument has a value the package cannot work with."""


class ModelNotFoundError(SentimentMLOpsError):
    """There is no model where one was asked for."""


class IntegrityError(SentimentMLOpsError):
    """An artifact is missing or its sha256 does not match the manifest."""


class RegistryError(SentimentMLOpsError):
    """MLflow refused or failed an operation."""


class PromotionRefusedError(SentimentMLOpsError):
    """The promotion gate did not pass."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class NotFoundError(SentimentMLOpsError):
    """A record asked for by id does not exist."""


class StoreError(SentimentMLOpsError):
    """The prediction store failed."""


class ClusterError(SentimentMLOpsError):
    """The Dask scheduler cannot be reached, or a task failed on a worker."""
