#!/bin/sh
# Renders the Redis ACL template (deploy/redis/users.acl.in) into OUT_FILE with the
# passwords of the admin and service users taken from the environment:
#
#   REDIS_ADMIN_PASSWORD=… REDIS_SERVICE_PASSWORD=… scripts/render-acl.sh OUT_FILE [TEMPLATE]
#
# Refuses (status 1, one line on stderr) when either password is unset or empty, or holds
# whitespace (an ACL file cannot). OUT_FILE is written with mode 600. Plain POSIX sh and
# sed, so the Redis container of docker-compose.yml runs it too.
set -eu

out="${1:-}"
template="${2:-$(dirname "$0")/../deploy/redis/users.acl.in}"
if [ -z "$out" ]; then
  echo "usage: render-acl.sh OUT_FILE [TEMPLATE]" >&2
  exit 2
fi
if [ ! -r "$template" ]; then
  echo "render-acl: cannot read the template $template" >&2
  exit 1
fi

check() { # NAME VALUE
  if [ -z "$2" ]; then
    echo "render-acl: $1 is not set or empty; refusing to write an ACL file without it" >&2
    exit 1
  fi
  case "$2" in
    *[[:space:]]* | *[[:cntrl:]]*)
      echo "render-acl: $1 holds whitespace or control characters, which an ACL file cannot" >&2
      exit 1 ;;
  esac
}
check REDIS_ADMIN_PASSWORD "${REDIS_ADMIN_PASSWORD:-}"
check REDIS_SERVICE_PASSWORD "${REDIS_SERVICE_PASSWORD:-}"

# A password as the replacement of a sed s||| command: \, & and | escaped.
sed_escape() { printf '%s\n' "$1" | sed -e 's/[\\&|]/\\&/g'; }
admin="$(sed_escape "$REDIS_ADMIN_PASSWORD")"
service="$(sed_escape "$REDIS_SERVICE_PASSWORD")"

unknown="$(sed -e '/^[[:space:]]*#/d' "$template" | grep -o '\${[^}]*}' \
  | grep -v -e '^\${REDIS_ADMIN_PASSWORD}$' -e '^\${REDIS_SERVICE_PASSWORD}$' | head -n 1)" || true
if [ -n "$unknown" ]; then
  echo "render-acl: unknown placeholder $unknown in $template" >&2
  exit 1
fi

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
umask 077
# Comments and blank lines out, continued lines joined, then the passwords in (last, so
# a password is never taken for a comment or a continuation).
sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$template" \
  | sed -e ':a' -e '/\\$/{' -e 'N' -e 's/[[:space:]]*\\\n[[:space:]]*/ /' -e 'ba' -e '}' \
  | sed -e "s|\${REDIS_ADMIN_PASSWORD}|$admin|g" -e "s|\${REDIS_SERVICE_PASSWORD}|$service|g" \
  > "$tmp"
if ! grep -q '^user service on >' "$tmp"; then
  echo "render-acl: $template gave no service user; not writing $out" >&2
  exit 1
fi
mv "$tmp" "$out"
trap - EXIT
