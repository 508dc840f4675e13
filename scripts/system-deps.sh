#!/usr/bin/env bash
# Debian packages the test suite uses: PostgreSQL 15 (a private server per test
# session), Redis 7 (the second Redis target), Chromium (the dashboard test) and
# Node.js with npm (the BullMQ interop tests; tests/fixtures_node.py runs npm ci) and
# wrk (the smoke run of benchmarks/api_latency.py --wrk).
# Installs what is missing when run as root with apt; otherwise says what to install.
set -euo pipefail

missing=()
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system packages missing: ${missing[*]}" >&2
  echo "install them (Debian: sudo apt-get install -y ${missing[*]}) and run again" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the Debian packages start their own services; the tests run private ones instead
for service in redis-server postgresql; do
  if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
