#!/usr/bin/env bash
# Real PostgreSQL and Redis for the tests, on loopback ports, from Debian's packages.
#   scripts/services.sh start   install when missing (apt, needs root), start, print the URLs
#   scripts/services.sh stop    stop both (data lives under var/services/ and is kept)
#   scripts/services.sh env     print the environment the tests read (CHATOPS_TEST_*)
# The ports are fixed and unusual (55432, 56379) so nothing else on the machine is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${CHATOPS_TEST_PG_PORT:-55432}
REDIS_PORT=${CHATOPS_TEST_REDIS_PORT:-56379}
DATA=$(pwd)/var/services
PG_DATA=$DATA/pg
REDIS_DIR=$DATA/redis

say() { printf '\033[1;34m[services]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[services] %s\033[0m\n' "$*" >&2; exit 1; }

pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
}

ensure_packages() {
  local missing=()
  [ -n "$(pg_bin)" ] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "need ${missing[*]}: run as root, or install them (apt-get install ${missing[*]})"
  say "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  # The packages start their own servers on the default ports; ours run separately.
  service postgresql stop >/dev/null 2>&1 || true
  service redis-server stop >/dev/null 2>&1 || true
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  local bin; bin=$(pg_bin)
  if as_postgres "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then return; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    mkdir -p "$PG_DATA"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$DATA" 2>/dev/null || true
    [ "$(id -u)" = 0 ] && chmod o+x "$(pwd)" "$(pwd)/var" 2>/dev/null || true
    as_postgres "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  as_postgres "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DATA -c fsync=off" \
    start >/dev/null
  local psql="$bin/psql -h 127.0.0.1 -p $PG_PORT -U postgres -v ON_ERROR_STOP=1 -qtA"
  if [ "$($psql -c "SELECT 1 FROM pg_roles WHERE rolname='chatops'")" != 1 ]; then
    $psql -c "CREATE ROLE chatops LOGIN" >/dev/null
  fi
  for db in chatops rasa; do
    if [ "$($psql -c "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
      $psql -c "CREATE DATABASE $db OWNER chatops" >/dev/null
    fi
  done
}

start_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then return; fi
  mkdir -p "$REDIS_DIR"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$REDIS_DIR" \
    --save "" --appendonly no --logfile "$REDIS_DIR/server.log" >/dev/null
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  die "redis did not start; see $REDIS_DIR/server.log"
}

print_env() {
  echo "CHATOPS_TEST_PG_URL=postgresql://chatops@127.0.0.1:$PG_PORT/chatops"
  echo "CHATOPS_TEST_PG_RASA_DB=rasa"
  echo "CHATOPS_TEST_PG_PORT=$PG_PORT"
  echo "CHATOPS_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "CHATOPS_TEST_REDIS_PORT=$REDIS_PORT"
}

case "${1:-}" in
  start)
    ensure_packages
    start_pg
    start_redis
    say "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
    print_env
    ;;
  stop)
    bin=$(pg_bin)
    [ -n "$bin" ] && [ -f "$PG_DATA/PG_VERSION" ] && as_postgres "$bin/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    say "stopped"
    ;;
  env) print_env ;;
  *) die "usage: $0 start|stop|env" ;;
esac
