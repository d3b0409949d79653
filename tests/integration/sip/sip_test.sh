#!/usr/bin/env bash
# SIP integration tests with SIPp against the real binary: registration with
# digest (good and wrong password), persistence across a restart, INVITE
# authentication and routing, hostile input (RFC 4475/5118 torture messages,
# garbage, oversized datagrams) with the process staying up and answering.
# Usage: sip_test.sh SWITCHBOARD_BINARY SOURCE_DIR TESTDATA_DIR
set -u
bin=$1
here=$2/tests/integration/sip
testdata=$3
tmp=$(mktemp -d)
echo "work dir: $tmp"
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "${SB_KEEP:-}" ] || rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
sip_port=$(free_port)
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sipp_port=$(free_port)

cat >"$tmp/sb.conf" <<CONF
[general]
data_dir = $tmp/var
[log]
format = json
[http]
listen = ws://127.0.0.1:$http_port
[sip]
listen = udp:127.0.0.1:$sip_port
register_min_expires = 60
[user alice]
password = alice-secret
CONF

start() {
  [ -f "$tmp/err" ] && cat "$tmp/err" >>"$tmp/err.all"
  "$bin" -c "$tmp/sb.conf" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 1 200); do
    grep -q "switchboard ready" "$tmp/err" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

stop() {
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  wait "$pid"
  rc=$?
  pid=
  return $rc
}

sipp_run() { # scenario
  timeout 20 sipp -sf "$here/$1" -m 1 -l 1 -i 127.0.0.1 -p "$sipp_port" -t u1 \
    -timeout 10s -nostdin 127.0.0.1:"$sip_port" >"$tmp/sipp.$1.log" 2>&1 </dev/null
}

check() { # scenario description
  if sipp_run "$1"; then ok "$2"; else not_ok "$2"; tail -20 "$tmp/sipp.$1.log"; fi
}

start || { not_ok "switchboard did not start"; cat "$tmp/err"; echo "$pass passed, $((fail)) failed"; exit 1; }
check options.xml "OPTIONS answered 200"
check register_auth.xml "REGISTER: 401 challenge, then 200 with the binding"
check register_wrong_password.xml "REGISTER with a wrong password is refused"
check invite_unknown_caller.xml "INVITE from a stranger: 403"
check invite_user_challenged.xml "INVITE from a user: 407, authenticated, routed (404 no route)"

rows=$(sqlite3 "$tmp/var/switchboard.db" "SELECT aor, contact FROM registrations" 2>&1)
case "$rows" in
  "alice|sip:alice@127.0.0.1:$sipp_port") ok "the binding is in the store" ;;
  *) not_ok "store rows: $rows" ;;
esac

# A restart keeps the registration.
if stop; then ok "SIGTERM exits 0"; else not_ok "SIGTERM exit $rc"; fi
start || not_ok "restart"
grep -q "1 registrations restored from the store" "$tmp/err" && ok "a restart keeps the registration" \
  || not_ok "registration not restored"

# Hostile input: every torture message, garbage and oversized datagrams.
head -c 70000 /dev/urandom >"$tmp/garbage.bin"
python3 -c "print('INVITE sip:a@b SIP/2.0\r\n' + 'X-Flood: a\r\n' * 5000 + '\r\n', end='')" >"$tmp/flood.txt"
printf 'REGISTER sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n' >"$tmp/badlen.txt"
python3 "$here/send_udp.py" 127.0.0.1 "$sip_port" "$testdata"/sip-torture/rfc4475/*.dat \
  "$testdata"/sip-torture/rfc4475_ersip_variants/*.dat "$testdata"/sip-torture/rfc5118/*.dat \
  "$tmp/garbage.bin" "$tmp/flood.txt" "$tmp/badlen.txt" >"$tmp/torture.log" 2>&1
if kill -0 "$pid" 2>/dev/null; then ok "alive after torture messages, garbage and floods"
else not_ok "died on hostile input"; tail -30 "$tmp/err"; fi
check options.xml "still answers OPTIONS after hostile input"
if stop; then ok "clean exit after hostile input"; else not_ok "exit $rc after hostile input"; tail -30 "$tmp/err"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
