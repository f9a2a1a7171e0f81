# The inference service: `sentiment-mlops serve` on port 8000, following a registry alias.
# Configure at run time: MLFLOW_TRACKING_URI (the tracking server), SENTIMENT_MLOPS_STORE_URL (PostgreSQL),
# and the environment with the command, e.g. `docker run ... IMAGE sentiment-mlops serve --host 0.0.0.0 --env production`.
# `docker run --rm -v "$(pwd):/app" IMAGE train` trains into the mounted directory (the entrypoint adds
# `sentiment-mlops`); the directory must be writable by uid 10001, or add --user "$(id -u):$(id -g)".
#
# Build with `make image` (it makes a local python:3.11-slim first where no registry is reachable, see
# deploy/docker/make-base.sh, and labels the image with the git revision).

# Build stage: pip, binutils and caches stay here, only the installed and pruned tree is copied on.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# hadolint ignore=DL3008
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
    && rm -rf /var/lib/apt/lists/*
# Dependencies first, in their own layer: a change under src/ or to the README does not reinstall them.
COPY pyproject.toml ./
COPY deploy/docker/runtime_requirements.py deploy/docker/prune.sh ./deploy/docker/
RUN python deploy/docker/runtime_requirements.py pyproject.toml > requirements.txt \
    && python deploy/docker/runtime_requirements.py --no-deps pyproject.toml > requirements-no-deps.txt \
    && pip install --no-compile --prefix=/install -r requirements.txt \
    && pip install --no-compile --prefix=/install --no-deps -r requirements-no-deps.txt
COPY README.md ./
COPY src ./src
RUN pip install --no-compile --no-deps --prefix=/install . \
    && sh deploy/docker/prune.sh /install/lib/python3.11/site-packages

FROM python:3.11-slim
ARG GIT_REVISION=unknown
LABEL org.opencontainers.image.title="sentiment-mlops" \
      org.opencontainers.image.description="TF-IDF + Naive Bayes sentiment service: train, serve, monitor" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${GIT_REVISION}"
# No .pyc files in the image (see prune.sh): each container compiles a module once, under /tmp.
ENV PYTHONPYCACHEPREFIX=/tmp/pycache \
    PYTHONUNBUFFERED=1 \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    SENTIMENT_MLOPS_MODELS_DIR=/app/models \
    SENTIMENT_MLOPS_STORE_URL=sqlite:////app/logs/predictions.db
COPY --from=build /install /usr/local
COPY deploy/docker/entrypoint.sh /usr/local/bin/docker-entrypoint
COPY deploy/docker/healthcheck.py /usr/local/lib/sentiment-mlops-healthcheck.py
# A fixed non-root uid, so volume permissions can be granted to it from outside.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app/models /app/logs \
    && chown -R app:app /app \
    && chmod 0755 /usr/local/bin/docker-entrypoint
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Healthy only on {"status": "ok"}: "degraded" fails the check. The probe reads --host/--port from the
# running serve command, so `serve --port 9000` is probed on 9000. python, not curl: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/sentiment-mlops-healthcheck.py"]
ENTRYPOINT ["docker-entrypoint"]
CMD ["sentiment-mlops", "serve", "--host", "0.0.0.0", "--port", "8000"]
