# The inference service: `sentiment-mlops serve` on port 8000, following a registry alias.
# Configure at run time: MLFLOW_TRACKING_URI (the tracking server), SENTIMENT_MLOPS_STORE_URL (PostgreSQL),
# and the environment with the command, e.g. `docker run ... IMAGE sentiment-mlops serve --host 0.0.0.0 --env production`.

# Build stage: compilers and pip caches stay here, only the installed tree is copied on.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --disable-pip-version-check --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    SENTIMENT_MLOPS_MODELS_DIR=/app/models \
    SENTIMENT_MLOPS_STORE_URL=sqlite:////app/logs/predictions.db
COPY --from=build /install /usr/local
# A fixed non-root uid, so volume permissions can be granted to it from outside.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/models /app/logs \
    && chown -R app:app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# python -c instead of curl: the slim image has no curl, and installing it would grow the image for one probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]
CMD ["sentiment-mlops", "serve", "--host", "0.0.0.0", "--port", "8000"]
