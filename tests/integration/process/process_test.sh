#!/usr/bin/env bash
# Process test: the real binary with the default config starts, reports
# ready, drains and exits 0 on SIGTERM; a broken config is refused with the
# file, line and key named; SIGHUP with a broken file keeps the running
# config; a second SIGTERM ends a drain at once.
# Usage: process_test.sh SWITCHBOARD_BINARY SOURCE_DIR
set -u
bin=$1
src=$2
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$src"
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }

# wait_for FILE PATTERN SECONDS
wait_for() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

start() {
  "$bin" -c "$1" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
}

# wait_exit SECONDS: sets rc, or returns 1 on timeout
wait_exit() {
  local i
  for ((i = 0; i < $1 * 20; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      rc=$?
      pid=
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# 1. Default config: ready, SIGTERM, exit 0.
SWITCHBOARD_HTTP_ADMIN_TOKEN=process-test start conf/switchboard.conf
if wait_for "$tmp/err" "switchboard ready" 20; then ok "ready with the default config"
else not_ok "never became ready"; cat "$tmp/err"; fi
http=http://127.0.0.1:8080
[ "$(curl -s -o /dev/null -w '%{http_code}' $http/readyz)" = 200 ] && ok "/readyz answers 200" \
  || not_ok "/readyz"
calls=$(curl -s -H 'Authorization: Bearer process-test' $http/api/v1/calls)
[ "$calls" = '{"calls":[]}' ] && ok "/api/v1/calls lists no calls" || not_ok "/api/v1/calls: $calls"
[ "$(curl -s -o /dev/null -w '%{http_code}' $http/api/v1/calls)" = 401 ] \
  && ok "/api/v1/calls needs the admin token" || not_ok "/api/v1/calls without token"
cdrs=$(curl -s -H 'Authorization: Bearer process-test' "$http/api/v1/cdrs?limit=5")
echo "$cdrs" | grep -q '"limit":5' && ok "/api/v1/cdrs answers from the store" || not_ok "/api/v1/cdrs: $cdrs"
curl -s $http/metrics | grep -q '^switchboard_engine_calls_active 0$' \
  && ok "/metrics carries the engine's figures" || not_ok "engine metrics"
kill -TERM "$pid"
if wait_exit 15 && [ "$rc" -eq 0 ]; then ok "SIGTERM drains and exits 0"
else not_ok "SIGTERM exit (rc=${rc:-timeout})"; cat "$tmp/err"; fi
grep -q '"stopping (drained)"\|stopping (drained)' "$tmp/err" && ok "stopped after draining" \
  || not_ok "no drain message"

# 2. A broken config is refused with file, line and key.
cp conf/switchboard.conf "$tmp/bad.conf"
printf '[sip]\nsession_expires = soon\n' >"$tmp/bad2.conf"
"$bin" -c "$tmp/bad2.conf" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "bad2.conf:2: key 'session_expires' in \[sip\]: expected an integer" "$tmp/err"
then ok "broken config refused with file, line and key"
else not_ok "broken config (rc=$rc)"; cat "$tmp/err"; fi

"$bin" -c "$tmp/missing.conf" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "missing.conf: cannot open config file" "$tmp/err"
then ok "missing config file refused"
else not_ok "missing config (rc=$rc)"; fi

SWITCHBOARD_BUS_BATCH_SIZE=0 "$bin" -c conf/switchboard.conf >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "SWITCHBOARD_BUS_BATCH_SIZE" "$tmp/err"
then ok "bad environment override refused"
else not_ok "bad env override (rc=$rc)"; fi

"$bin" --check-config -c conf/switchboard.conf >"$tmp/out" 2>&1 && ok "--check-config accepts the default" \
  || not_ok "--check-config"

# 3. SIGHUP with a broken file keeps the running config; a good one reloads.
cp conf/switchboard.conf "$tmp/live.conf"
start "$tmp/live.conf"
wait_for "$tmp/err" "switchboard ready" 20 || not_ok "not ready for reload test"
printf '[nonsense]\n' >>"$tmp/live.conf"
kill -HUP "$pid"
if wait_for "$tmp/err" "reload failed: keeping the running config" 10 && kill -0 "$pid"
then ok "failed reload keeps running"
else not_ok "failed reload"; cat "$tmp/err"; fi
grep -q "live.conf:.*unknown section \[nonsense\]" "$tmp/err" && ok "reload error names file and section" \
  || not_ok "reload error text"
cp conf/switchboard.conf "$tmp/live.conf"
kill -HUP "$pid"
wait_for "$tmp/err" "config reloaded" 10 && ok "good reload applied" || not_ok "good reload"

# 4. A second SIGTERM ends it at once.
kill -TERM "$pid"; kill -TERM "$pid"
if wait_exit 10 && [ "$rc" -eq 0 ]; then ok "second SIGTERM stops at once"
else not_ok "second SIGTERM (rc=${rc:-timeout})"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
