#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages, idempotently: gearmand and Perl's
# Gearman modules (the distributed-cron peers), Chromium (UI tests), and a running PostgreSQL.
set -euo pipefail

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
# Runs a command as the postgres OS user (peer login over the local socket).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

packages=(gearman-job-server libgearman-client-perl chromium postgresql procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
installed_postgresql=0
if ((${#missing[@]})); then
  echo "install-test-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  [[ " ${missing[*]} " == *" postgresql "* ]] && installed_postgresql=1
fi

# The suite's PostgreSQL: CRONFLEET_TEST_PG when set (left as it is), else a `test` database at
# 127.0.0.1:5432 that user postgres reaches without a password.
pg_url="${CRONFLEET_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
if [ -z "${CRONFLEET_TEST_PG:-}" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "install-test-deps: starting PostgreSQL"
    $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if ! psql -w -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1 && [ "$installed_postgresql" = 1 ]; then
    # A PostgreSQL installed by this run, on a test machine: Debian's pg_hba.conf asks for a
    # password on TCP; let user postgres in from 127.0.0.1 without one.
    echo "install-test-deps: letting user postgres connect from 127.0.0.1 without a password"
    hba="$(as_postgres psql -Atc 'show hba_file')"
    $sudo sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    as_postgres psql -qAtc 'select pg_reload_conf()' >/dev/null
  fi
  if ! psql -w -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    psql -w -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null 2>&1 || true
  fi
fi

for tool in /usr/sbin/gearmand perl /usr/bin/chromium psql; do
  command -v "$tool" >/dev/null || { echo "install-test-deps: $tool is still missing" >&2; exit 1; }
done
perl -MGearman::Client -MGearman::Worker -e 1 || { echo "install-test-deps: Perl Gearman modules missing" >&2; exit 1; }
psql -w "$pg_url" -Atc 'select 1' >/dev/null || {
  echo "install-test-deps: PostgreSQL unreachable at $pg_url: allow user postgres from 127.0.0.1 without a password (pg_hba.conf: host all postgres 127.0.0.1/32 trust), or set CRONFLEET_TEST_PG" >&2
  exit 1
}
echo "install-test-deps: ok"
