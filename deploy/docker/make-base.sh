#!/usr/bin/env bash
# Make a local stand-in for `python:3.11-slim` when no image registry is reachable.
#
#   deploy/docker/make-base.sh            # no-op when the daemon already has python:3.11-slim
#
# Debian bookworm (minbase) with its python3 (3.11), a virtual environment at /usr/local so that
# /usr/local/bin/python and pip exist where the slim image has them, and this host's CA certificates
# (HTTPS may go through a proxy with its own CA). Takes about 3 minutes; needs root and debootstrap.
set -euo pipefail

DOCKER="${DOCKER:-/usr/bin/docker}"
BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "base image $BASE_IMAGE: already present"
  exit 0
fi
if "$DOCKER" pull "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "base image $BASE_IMAGE: pulled from the registry"
  exit 0
fi
echo "base image $BASE_IMAGE: no registry reachable; making a local one with debootstrap ($SUITE, minbase)"
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }

ROOTFS="$(mktemp -d /var/tmp/python-slim-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$SUITE" "$ROOTFS" "$MIRROR" \
  > "$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log" >&2; exit 1; }
rm -f "$ROOTFS.log"

# The host's CA bundle, so pip inside `docker build` trusts whatever terminates HTTPS here.
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
chroot "$ROOTFS" python3 -m venv /usr/local
chroot "$ROOTFS" /usr/local/bin/python -m pip --version
# What the slim image would not carry: apt lists, caches, docs.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/usr/share/doc/* \
  "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*

tar -C "$ROOTFS" -c . | "$DOCKER" import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' \
  --message "local stand-in for $BASE_IMAGE (debootstrap $SUITE minbase)" \
  - "$BASE_IMAGE" >/dev/null
echo "base image $BASE_IMAGE: made locally ($("$DOCKER" image inspect -f '{{.Size}}' "$BASE_IMAGE") bytes)"
