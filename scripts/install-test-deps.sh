#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages, idempotently: gearmand and Perl's
# Gearman modules (the distributed-cron peers), Chromium (UI tests), and a running PostgreSQL.
set -euo pipefail

packages=(gearman-job-server libgearman-client-perl chromium postgresql procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-test-deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL at 127.0.0.1:5432 with a `test` database that user postgres reaches without a password.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "install-test-deps: starting PostgreSQL"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null 2>&1 || true
fi

for tool in /usr/sbin/gearmand perl /usr/bin/chromium psql; do
  command -v "$tool" >/dev/null || { echo "install-test-deps: $tool is still missing" >&2; exit 1; }
done
perl -MGearman::Client -MGearman::Worker -e 1 || { echo "install-test-deps: Perl Gearman modules missing" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null || { echo "install-test-deps: PostgreSQL test database unreachable" >&2; exit 1; }
echo "install-test-deps: ok"
