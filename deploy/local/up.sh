#!/usr/bin/env bash
# The scaled-out topology on one machine, on loopback: an MLflow tracking server on PostgreSQL, two
# `sentiment-mlops serve` replicas on the PostgreSQL prediction store, and HAProxy in front.
#
#   deploy/local/up.sh          (or `make cluster`)   Ctrl-C or SIGTERM stops everything it started
#
# Settings (environment variables, defaults in brackets):
#   POSTGRES_URL  [postgresql://postgres@127.0.0.1:5432]   server for both databases (created if missing)
#   MLFLOW_DB [sentiment_cluster_mlflow]  STORE_DB [sentiment_cluster_store]
#   WORKDIR [./cluster]   artifacts, logs and cluster.env (the URLs and pids, written once all is up)
#   MLFLOW_PORT [5000]  REPLICA1_PORT [8001]  REPLICA2_PORT [8002]  LB_PORT [8080]  STATS_PORT [8404]
#   ENVIRONMENT [production]   the alias both replicas follow; POLL_SECONDS [1]
# When the alias points nowhere yet, a first version is trained on the built-in corpus and promoted to
# staging and then to the environment, so the replicas have something to serve.
set -euo pipefail

POSTGRES_URL="${POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432}"
MLFLOW_DB="${MLFLOW_DB:-sentiment_cluster_mlflow}"
STORE_DB="${STORE_DB:-sentiment_cluster_store}"
WORKDIR="$(mkdir -p "${WORKDIR:-cluster}" && cd "${WORKDIR:-cluster}" && pwd)"
export MLFLOW_PORT="${MLFLOW_PORT:-5000}" REPLICA1_PORT="${REPLICA1_PORT:-8001}" REPLICA2_PORT="${REPLICA2_PORT:-8002}"
export LB_PORT="${LB_PORT:-8080}" STATS_PORT="${STATS_PORT:-8404}"
ENVIRONMENT="${ENVIRONMENT:-production}"
HERE="$(cd "$(dirname "$0")" && pwd)"
HAPROXY_CFG="$HERE/../haproxy/haproxy.cfg"

for tool in psql mlflow sentiment-mlops haproxy curl; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is not on PATH" >&2; exit 1; }
done

pids=()
stop_all() {
  trap - EXIT INT TERM
  # Only what this script started, newest first, each by its pid (mlflow server leads its own group).
  for (( i=${#pids[@]}-1; i>=0; i-- )); do kill -TERM -- "-${pids[i]}" 2>/dev/null || kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "cluster stopped"
}
trap stop_all EXIT
trap 'exit 0' INT TERM

wait_http() {  # URL WHAT
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "up.sh: $2 exited; see $WORKDIR/*.log" >&2; exit 1; }; done
    sleep 0.2
  done
  echo "up.sh: $2 did not answer $1 within 120 s" >&2; exit 1
}

for db in "$MLFLOW_DB" "$STORE_DB"; do
  if [ -z "$(psql "$POSTGRES_URL/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    psql "$POSTGRES_URL/postgres" -qc "CREATE DATABASE \"$db\"" && echo "created database $db"
  fi
done
backend="${POSTGRES_URL/postgresql:/postgresql+psycopg:}/$MLFLOW_DB"  # MLflow's SQLAlchemy needs the driver named
export MLFLOW_TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT"
export SENTIMENT_MLOPS_STORE_URL="$POSTGRES_URL/$STORE_DB"
export SENTIMENT_MLOPS_POLL_SECONDS="${POLL_SECONDS:-1}"

mkdir -p "$WORKDIR/artifacts"
setsid mlflow server --backend-store-uri "$backend" --artifacts-destination "$WORKDIR/artifacts" \
  --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 > "$WORKDIR/mlflow.log" 2>&1 &
pids+=($!)
wait_http "$MLFLOW_TRACKING_URI/health" "mlflow server"
echo "mlflow server: $MLFLOW_TRACKING_URI (backend $MLFLOW_DB)"

if ! sentiment-mlops history --env "$ENVIRONMENT" --json 2>/dev/null | grep -q '"to_version"'; then
  echo "no version in $ENVIRONMENT yet: training one on the built-in corpus and promoting it"
  (cd "$WORKDIR" && sentiment-mlops train > train.log 2>&1)
  [ "$ENVIRONMENT" = staging ] || sentiment-mlops promote --to staging > "$WORKDIR/promote.log" 2>&1
  sentiment-mlops promote --to "$ENVIRONMENT" >> "$WORKDIR/promote.log" 2>&1
fi

replica=0
for port in "$REPLICA1_PORT" "$REPLICA2_PORT"; do
  replica=$((replica + 1))
  (cd "$WORKDIR" && exec sentiment-mlops serve --env "$ENVIRONMENT" --host 127.0.0.1 --port "$port" \
     > "replica$replica.log" 2>&1) &
  pids+=($!)
  eval "REPLICA${replica}_PID=$!"
done
wait_http "http://127.0.0.1:$REPLICA1_PORT/health" "replica 1"
wait_http "http://127.0.0.1:$REPLICA2_PORT/health" "replica 2"

haproxy -db -f "$HAPROXY_CFG" > "$WORKDIR/haproxy.log" 2>&1 &
pids+=($!)
HAPROXY_PID=$!
wait_http "http://127.0.0.1:$LB_PORT/health" "haproxy"

cat > "$WORKDIR/cluster.env.tmp" <<ENV
MLFLOW_TRACKING_URI=$MLFLOW_TRACKING_URI
SENTIMENT_MLOPS_STORE_URL=$SENTIMENT_MLOPS_STORE_URL
LB_URL=http://127.0.0.1:$LB_PORT
STATS_URL=http://127.0.0.1:$STATS_PORT/stats
REPLICA1_URL=http://127.0.0.1:$REPLICA1_PORT
REPLICA2_URL=http://127.0.0.1:$REPLICA2_PORT
REPLICA1_PID=$REPLICA1_PID
REPLICA2_PID=$REPLICA2_PID
HAPROXY_PID=$HAPROXY_PID
ENV
mv "$WORKDIR/cluster.env.tmp" "$WORKDIR/cluster.env"
cat "$WORKDIR/cluster.env"
echo "cluster up: send requests to http://127.0.0.1:$LB_PORT (stats: http://127.0.0.1:$STATS_PORT/stats); Ctrl-C stops it"
# Exit when any process dies is not wanted (a replica may be stopped on purpose): wait for a signal.
while true; do sleep 1; done
