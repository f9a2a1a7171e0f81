#!/bin/sh
# `docker run IMAGE train` runs `sentiment-mlops train` (the seed's form); `docker run IMAGE sentiment-mlops
# serve ...` and any other program on PATH (python, sh) run as given.
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ] || ! command -v "$1" >/dev/null 2>&1; then
  set -- sentiment-mlops "$@"
fi
if [ ! -w . ]; then
  # A host directory mounted on /app keeps its owner; uid 10001 may not write there.
  echo "warning: $(pwd) is not writable by uid $(id -u); models/, mlflow.db and logs/ cannot be written." \
       "Run with --user \"\$(id -u):\$(id -g)\" or give uid $(id -u) write access to the mounted directory." >&2
fi
exec "$@"
