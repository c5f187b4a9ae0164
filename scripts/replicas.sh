#!/usr/bin/env bash
# Several `streamlit run app.py` replicas on loopback, with nginx in front (sticky sessions, WebSocket),
# all on one PostgreSQL database. Everything lives in <rundir>: rendered nginx.conf, pid files, logs.
#
#   scripts/replicas.sh start <rundir> [--replicas N] [--port P]   N replicas (default 2), proxy on
#                                                                  127.0.0.1:P (default 8501)
#   scripts/replicas.sh restart <rundir> <n>                       stop replica n, start it on its port again
#   scripts/replicas.sh stop <rundir>                              stop what `start` started (pid files only)
#
# GLMCHAT_DATABASE_URL (PostgreSQL) is required. The caller's environment (ZHIPUAI_API_KEY, GLMCHAT_* ...)
# goes to every replica as it is: run `restart` with the same environment as `start`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NGINX=/usr/sbin/nginx
PY="$ROOT/.venv/bin/python"
STREAMLIT="$ROOT/.venv/bin/streamlit"
TEMPLATE="$ROOT/deploy/nginx.conf.template"
HEALTH_TIMEOUT=60

die() { echo "replicas: $*" >&2; exit 1; }
usage() { die "usage: $0 start <rundir> [--replicas N] [--port P] | restart <rundir> <n> | stop <rundir>"; }

# -- checks -------------------------------------------------------------------------------------------------

need_tools() {
  [ -x "$NGINX" ] || die "no nginx at $NGINX: install Debian's nginx package (apt-get install nginx)"
  [ -x "$STREAMLIT" ] || die "no $STREAMLIT: run scripts/setup.sh first"
  command -v curl >/dev/null || die "curl is missing: install Debian's curl package"
}

need_database() {
  case "${GLMCHAT_DATABASE_URL:-}" in
    postgres://*|postgresql://*|postgresql+*://*) ;;
    "") die "GLMCHAT_DATABASE_URL is not set: every replica must use the same PostgreSQL database" ;;
    *) die "GLMCHAT_DATABASE_URL is not a PostgreSQL URL: replicas cannot share a SQLite file safely" ;;
  esac
}

# -- processes ----------------------------------------------------------------------------------------------

cmdline() { tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null || true; }

# The pid in a pid file, if it still is the process we started (its command line has `mark`): a pid file
# left from a crash may name an unrelated process by now.
ours() {
  local file="$1" mark="$2" pid
  pid="$(cat "$file" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [[ "$(cmdline "$pid")" == *"$mark"* ]] && echo "$pid"
}

# TERM the processes, KILL what is left after STOP_GRACE seconds. Streamlit's TERM waits for its open
# WebSockets without a limit, and its sessions are lost either way: they live in the process's memory.
STOP_GRACE=5
stop_pids() {
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local pid deadline=$((SECONDS + STOP_GRACE))
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
}

alive() {
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null
}

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_replica() {
  local n="$1" port secret
  port="$(cat "$RUN/replica-$n.port")"
  secret="$(cat "$RUN/cookie_secret")"
  # exec: the pid in the file is streamlit's own, not a subshell's. The replicas listen on loopback behind
  # this nginx, which sets X-Real-IP: the app may trust it (unless the caller says otherwise).
  ( cd "$ROOT" && STREAMLIT_SERVER_COOKIE_SECRET="$secret" PYTHONUNBUFFERED=1 \
      GLMCHAT_BEHIND_PROXY="${GLMCHAT_BEHIND_PROXY:-true}" exec "$STREAMLIT" run app.py \
      --server.headless true --server.address 127.0.0.1 --server.port "$port" \
      --browser.gatherUsageStats false ) >>"$RUN/replica-$n.log" 2>&1 &
  echo $! > "$RUN/replica-$n.pid"
}

# Poll url until it answers 200; fail at once (with the log's tail) if the process in pidfile died.
wait_health() {
  local url="$1" pidfile="$2" log="$3" deadline=$((SECONDS + HEALTH_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    alive "$pidfile" || { tail -n 30 "$log" >&2; die "the process behind $url exited (log: $log)"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 30 "$log" >&2; die "$url did not answer within ${HEALTH_TIMEOUT}s"; }
    sleep 0.2
  done
}

# -- nginx config -------------------------------------------------------------------------------------------

# One group per replica (the others as backups, for failover) and the round-robin pool of all. A zone
# shares the round-robin position and the "replica is down" marks between nginx's workers.
# max_fails=0: a replica's own clients are never sent away because of one failed request (a client that
# resets its upload counts as one); they fail over only while it refuses connections, and come back the
# moment it is up again.
upstreams() {
  local i j line
  for i in $(seq 1 "$N"); do
    line="upstream glmchat_r$i { zone glmchat_r$i 64k; server 127.0.0.1:${PORTS[i]} max_fails=0;"
    for j in $(seq 1 "$N"); do [ "$j" = "$i" ] || line+=" server 127.0.0.1:${PORTS[j]} backup;"; done
    echo "$line }"
  done
  line="upstream glmchat_pool { zone glmchat_pool 64k;"
  for i in $(seq 1 "$N"); do line+=" server 127.0.0.1:${PORTS[i]};"; done
  echo "$line }"
}

routes() {
  local i
  for i in $(seq 1 "$N"); do echo "\"127.0.0.1:${PORTS[i]}\" glmchat_r$i;"; done
}

# The template with its placeholders filled in; comment lines are copied as they are.
render() {
  local line indent
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ "$line" =~ ^[[:space:]]*# ]]; then
      printf '%s\n' "$line"
    elif [[ "$line" == *@UPSTREAMS@* ]]; then
      indent="${line%%@*}"; upstreams | sed "s/^/$indent/"
    elif [[ "$line" == *@ROUTES@* ]]; then
      indent="${line%%@*}"; routes | sed "s/^/$indent/"
    else
      line="${line//@RUNDIR@/$RUN}"; printf '%s\n' "${line//@LISTEN@/$LISTEN}"
    fi
  done < "$TEMPLATE"
}

nginx_cmd() { "$NGINX" -p "$RUN" -c "$RUN/nginx.conf" -e "$RUN/error.log" "$@"; }

# -- commands -----------------------------------------------------------------------------------------------

replica_mark() { echo "--server.port $(cat "$RUN/replica-$1.port") "; }

stop_all() {
  local pids=() f n pid
  pid="$(ours "$RUN/nginx.pid" "$RUN/nginx.conf")" && pids+=("$pid")
  for f in "$RUN"/replica-*.pid; do
    [ -e "$f" ] || continue
    n="${f##*/replica-}"; n="${n%.pid}"
    pid="$(ours "$f" "$(replica_mark "$n")")" && pids+=("$pid")
  done
  stop_pids "${pids[@]}"
  rm -f "$RUN/nginx.pid" "$RUN"/replica-*.pid "$RUN/cookie_secret"
}

cmd_start() {
  N=2; local port=8501
  while [ $# -gt 0 ]; do
    case "$1" in
      --replicas) N="${2:-}"; shift 2 || usage ;;
      --port) port="${2:-}"; shift 2 || usage ;;
      *) usage ;;
    esac
  done
  [[ "$N" =~ ^[1-9][0-9]*$ ]] || die "--replicas must be a positive number"
  [[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number"
  need_tools; need_database
  if alive "$RUN/nginx.pid" || compgen -G "$RUN/replica-*.pid" >/dev/null; then
    die "$RUN is in use (pid files present): run '$0 stop $RUN' first"
  fi
  mkdir -p "$RUN/tmp"
  rm -f "$RUN"/replica-*.port
  LISTEN="127.0.0.1:$port"

  # Streamlit signs its XSRF cookie (and the OIDC login cookie) with this secret: the same on every
  # replica, so a client that fails over to another replica keeps a valid cookie. Kept for `restart`.
  ( umask 077; printf '%s\n' "${STREAMLIT_SERVER_COOKIE_SECRET:-$("$PY" -c 'import secrets; print(secrets.token_hex(32))')}" \
      > "$RUN/cookie_secret" )

  PORTS=()
  local i p
  for i in $(seq 1 "$N"); do
    p="$(free_port)"
    while [[ " ${PORTS[*]} " == *" $p "* || "$p" == "$port" ]]; do p="$(free_port)"; done
    PORTS[i]="$p"; echo "$p" > "$RUN/replica-$i.port"
  done

  trap '[ "$?" -eq 0 ] || stop_all' EXIT  # a failed start leaves nothing running
  for i in $(seq 1 "$N"); do start_replica "$i"; done
  render > "$RUN/nginx.conf"
  nginx_cmd -t -q || die "nginx rejected $RUN/nginx.conf (see above)"
  nginx_cmd || die "nginx did not start (see above, and $RUN/error.log)"  # daemonises; its master writes nginx.pid
  for _ in $(seq 1 50); do [ -s "$RUN/nginx.pid" ] && break; sleep 0.1; done
  for i in $(seq 1 "$N"); do
    wait_health "http://127.0.0.1:${PORTS[i]}/_stcore/health" "$RUN/replica-$i.pid" "$RUN/replica-$i.log"
  done
  wait_health "http://$LISTEN/_stcore/health" "$RUN/nginx.pid" "$RUN/error.log"

  echo "proxy http://$LISTEN"
  for i in $(seq 1 "$N"); do echo "replica $i http://127.0.0.1:${PORTS[i]}"; done
}

cmd_restart() {
  local n="${1:-}"
  [[ "$n" =~ ^[0-9]+$ ]] && [ -f "$RUN/replica-$n.port" ] || die "no replica '$n' in $RUN"
  [ -f "$RUN/cookie_secret" ] || die "$RUN is stopped: use start"
  need_tools; need_database
  local port pid
  port="$(cat "$RUN/replica-$n.port")"
  pid="$(ours "$RUN/replica-$n.pid" "$(replica_mark "$n")")" && stop_pids "$pid"
  start_replica "$n"
  wait_health "http://127.0.0.1:$port/_stcore/health" "$RUN/replica-$n.pid" "$RUN/replica-$n.log"
  echo "replica $n http://127.0.0.1:$port"
}

[ $# -ge 2 ] || usage
COMMAND="$1"; RUN="$2"; shift 2
case "$RUN" in /*) ;; *) RUN="$PWD/$RUN" ;; esac
UNSAFE='[[:space:];"{}'"'"']'  # these would break the rendered nginx.conf
[[ "$RUN" =~ $UNSAFE ]] && die "the run directory must not contain spaces, quotes, braces or ';'"
case "$COMMAND" in
  start) cmd_start "$@" ;;
  restart) cmd_restart "$@" ;;
  stop) [ -d "$RUN" ] || die "no run directory $RUN"; stop_all; echo "stopped" ;;
  *) usage ;;
esac
