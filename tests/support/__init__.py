"""What the tests share: helpers and session fixtures, imported normally (``pythonpath = ["tests"]``).

- ``polling``: ``free_port`` and ``wait_for``, the only copies.
- ``registries``: trained MLflow registries built once per test run and copied per user.
- ``processes``: real ``sentiment-mlops serve`` and ``mlflow server`` processes on loopback.
- ``webhooks``: a loopback HTTP server that records alert webhooks.
- ``alerts``, ``dashboard``, ``deployment``, ``serving``: each area's data, trained versions and fixtures;
  a conftest imports the fixtures it wants from here.
- ``drift``: a real topic shift on the built-in corpus (also used by benchmarks/drift_vs_evidently.py).
"""

# Where the suite finds its PostgreSQL server; tests that need it skip with a reason where it is unset.
POSTGRES_ENV = "SENTIMENT_MLOPS_TEST_POSTGRES_URL"
