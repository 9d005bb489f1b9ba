#!/usr/bin/env bash
# The web pages' third-party files: installs web/package.json's npm packages from its lock
# file (npm ci, only when node_modules is missing or older than the lock) and copies what
# the pages load into web/vendor/, which the server serves at /vendor/ and git ignores:
# uPlot (the charts of the operators' dashboard, /admin) as an ES module, its style sheet
# and its licence. Run by setup.sh (so by run.sh and test.sh) and by the Dockerfile; WEB
# (default: web/ next to this script) names another web folder.
set -euo pipefail

WEB="${WEB:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)}"
if [ ! -d "$WEB/node_modules" ] || [ "$WEB/package-lock.json" -nt "$WEB/node_modules" ]; then
  echo "web-vendor: installing the npm packages of web/ (npm ci)"
  # --ignore-scripts: uPlot has no install script.
  (cd "$WEB" && npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null)
fi
UPLOT="$WEB/node_modules/uplot"
mkdir -p "$WEB/vendor/uplot"
cp "$UPLOT/dist/uPlot.esm.js" "$UPLOT/dist/uPlot.min.css" "$UPLOT/LICENSE" "$WEB/vendor/uplot/"
