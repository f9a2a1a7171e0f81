"""One exception tree for the whole package.

::

    SentimentMLOpsError
     ├── DataError               the training or drift data cannot be used (bad file, column, labels)
     ├── ConfigurationError      a setting or command-line value is invalid
     ├── ModelNotFoundError      no model behind a path, version or alias
     │    └── VersionNotFoundError   a registered version, run or alias asked for by name does not exist
     ├── IntegrityError          an artifact is missing or does not match its sha256
     ├── RegistryError           the MLflow tracking server or registry refused an operation
     ├── PromotionRefusedError   the promotion gate failed (carries the report)
     ├── NotFoundError           an unknown prediction id, run, version or page asked for by a request
     ├── StoreError              the prediction store cannot be reached or written
     ├── InvalidRequestError     a request's parameters are each valid but do not make sense together
     ├── UnauthorizedError       a request without the admin token, or with a wrong one
     ├── ForbiddenError          an admin request to a server that has no admin token configured
     ├── ConflictError           another command changed the same state first (a deployment lock, an alias moved)
     └── ClusterError            the distributed engine (Dask) cannot be reached or failed a task

The CLI maps these to exit codes in ``cli/app.py`` and the service to HTTP status codes in
``serving/errors.py``; nothing else decides how an error is shown.
"""

from __future__ import annotations


class SentimentMLOpsError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(SentimentMLOpsError):
    """The data cannot be used as given."""


class ConfigurationError(SentimentMLOpsError):
    """A setting or argument has a value the package cannot work with."""


class ModelNotFoundError(SentimentMLOpsError):
    """There is no model where one was asked for."""


class VersionNotFoundError(ModelNotFoundError):
    """The registry has no version, run or alias of the name asked for.

    A model that is not there (a ``ModelNotFoundError``) leaves a server unable to answer (503); a version
    that does not exist is the client's mistake (404).
    """


class IntegrityError(SentimentMLOpsError):
    """An artifact is missing or its sha256 does not match the manifest."""


class RegistryError(SentimentMLOpsError):
    """MLflow refused or failed an operation."""


class PromotionRefusedError(SentimentMLOpsError):
    """The promotion gate did not pass."""

    # The gate's report (a ``deployment.policy.GateReport``); typed ``object`` because the ground floor cannot
    # import deployment, and the one reader checks its type.
    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class NotFoundError(SentimentMLOpsError):
    """A record asked for by id does not exist."""


class StoreError(SentimentMLOpsError):
    """The prediction store failed."""


class InvalidRequestError(SentimentMLOpsError):
    """A request whose parameters pass validation one by one but not together."""


class UnauthorizedError(SentimentMLOpsError):
    """A request needs the admin token and came without it, or with a wrong one."""


class ForbiddenError(SentimentMLOpsError):
    """A request needs the admin token and the server has none configured, so nobody is admin."""


class ConflictError(SentimentMLOpsError):
    """Another command changed, or is changing, the same state: nothing was done; run again."""


class ClusterError(SentimentMLOpsError):
    """The Dask scheduler cannot be reached, or a task failed on a worker."""
