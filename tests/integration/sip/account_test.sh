#!/usr/bin/env bash
# A browser user's upstream SIP account, against the real binary, all on
# loopback. The provider (registrar and far end) is SIPp on 127.0.0.2, at
# the address of the trunk's outbound proxy: the account registers there
# (Route of the proxy, 401 digest with the account's credentials), shows in
# /api/v1/accounts and /metrics; a call from the provider to the account's
# username is routed to the user (no device: 480); the user's call through
# that trunk goes out as the account and answers the provider's 401 with its
# credentials. Then CRLF keepalives on a TCP connection, and the OPTIONS
# keepalives of a NAT-rewritten binding resuming after a restart.
# Usage: account_test.sh SWITCHBOARD_BINARY SOURCE_DIR
set -u
bin=$1
here=$2/tests/integration/sip
. "$here/lib.sh"

sip_port=$(free_port)
http_port=$(free_port)
trunk_port=$(free_port)
proxy_port=$(free_port)
caller_port=$(free_port)
phone_port=$(free_port)
nat_port=$(free_port)
token=account-test-token

{ conf_head "$tmp/var"; cat <<CONF
[sip]
listen = udp:127.0.0.1:$sip_port,tcp:127.0.0.1:$sip_port
nat_keepalive_interval = 1
crlf_keepalive_interval = 1
[user alice]
password = alice-secret
sip_trunk = provider
sip_username = acct1001
sip_password = acct-secret
[trunk provider]
host = 127.0.0.2
port = $trunk_port
outbound_proxy = 127.0.0.2:$proxy_port
options_interval = 0
register_retry_min = 1
register_retry_max = 2
[route out]
destination = 9*
action = trunk
target = provider
CONF
} >"$tmp/sb.conf"

api() { curl -s -m 2 -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/api/v1/$1"; }
metrics() { curl -s -m 2 "http://127.0.0.1:$http_port/metrics"; }
account() { api accounts | jq -e ".[] | select(.user == \"alice\") | $1" >/dev/null 2>&1; }
wait_for() { # SECONDS COMMAND...: polls every 100 ms
  local end=$((SECONDS + $1))
  shift
  while [ $SECONDS -le $end ]; do "$@" && return 0; sleep 0.1; done
  return 1
}
provider_bg() { # NAME SCENARIO: SIPp at the proxy's address, bounded in time
  timeout 30 sipp -sf "$here/$2" -m 1 -i 127.0.0.2 -p "$proxy_port" -t u1 -nostdin \
    -trace_err -error_file "$tmp/sipp.$1.err" >"$tmp/sipp.$1.log" 2>&1 </dev/null &
  last=$!
  helpers+=("$last")
}
uac() { # SCENARIO LOCAL_IP PORT
  timeout 20 sipp -sf "$here/$1" -m 1 -l 1 -i "$2" -p "$3" -t u1 -timeout 10s -nostdin \
    -trace_err -error_file "$tmp/sipp.$1.err" 127.0.0.1:"$sip_port" >"$tmp/sipp.$1.log" 2>&1 \
    </dev/null
}

provider_bg registrar uas_account_registrar.xml
reg_sipp=$last
wait_bound "$proxy_port"
start || { not_ok "switchboard did not start"; cat "$tmp/err"; exit 1; }

# 1. The account registers through the proxy, answering the challenge.
if wait_for 5 account '.registration == "registered" and .expires_in > 50'; then
  ok "alice's account registers upstream: $(api accounts | jq -c '.[0]')"
else not_ok "account not registered: $(api accounts)"; fi
if wait "$reg_sipp"; then ok "the registrar saw the proxy's Route, the account and a valid digest"
else not_ok "registrar scenario failed"; tail -20 "$tmp/sipp.registrar.log" "$tmp/sipp.registrar.err"; fi
account '.trunk == "provider" and .username == "acct1001" and .registrations == 1' &&
  ok "/api/v1/accounts names user, trunk and username" || not_ok "accounts: $(api accounts)"
metrics | grep -q '^switchboard_sip_account_registered{user="alice"} 1$' &&
  metrics | grep -q '^switchboard_sip_account_registrations_total{user="alice"} 1$' &&
  ok "account state on /metrics" || not_ok "metrics: $(metrics | grep sip_account)"

# 2. The provider calls the account: routed to alice, who has no device.
if uac uac_account_call.xml 127.0.0.2 "$caller_port"; then
  ok "a call to acct1001 from the provider: 480 (alice has no browser or phone)"
else not_ok "call to the account"; tail -20 "$tmp/sipp.uac_account_call.xml.log"; fi
grep -q 'call from 15550002 to acct1001: route account, user alice' "$tmp/err" &&
  ok "the engine routed it to the user alice (route account)" ||
  not_ok "routing not logged: $(grep -o '"msg":"call from[^"]*' "$tmp/err")"

# 3. alice calls out through the trunk of her account.
provider_bg outbound uas_account_auth.xml
out_sipp=$last
wait_bound "$proxy_port"
if uac uac_alice_out.xml 127.0.0.1 "$phone_port"; then
  ok "alice's call through the provider: the far end's 486 reaches her"
else not_ok "alice's outbound call"; tail -20 "$tmp/sipp.uac_alice_out.xml.log"; fi
if wait "$out_sipp"; then
  ok "the INVITE went through the proxy, From the account, with a valid digest for it"
else not_ok "provider INVITE scenario failed"; tail -20 "$tmp/sipp.outbound.log" "$tmp/sipp.outbound.err"; fi

# 4. CRLF keepalive (RFC 5626 section 4.4.1) on an idle TCP connection.
crlf_ping() {
  timeout 10 python3 - "$sip_port" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
lp = s.getsockname()[1]
s.sendall(("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n"
           "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK-crlf-1\r\n"
           "From: <sip:probe@127.0.0.1>;tag=crlf\r\nTo: <sip:127.0.0.1>\r\n"
           "Call-ID: crlf-1@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n" % (port, lp)).encode())
data = b""
end = time.time() + 6
while time.time() < end:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
    head, sep, rest = data.partition(b"\r\n\r\n")
    if sep and head.startswith(b"SIP/2.0 200") and b"\r\n\r\n" in rest:
        sys.exit(0)
sys.exit(1)
PY
}
if crlf_ping; then ok "an idle TCP connection gets a CRLFCRLF ping"
else not_ok "no CRLF keepalive on TCP"; fi

# 5. A NAT-rewritten binding: its OPTIONS keepalives resume after a restart.
if uac register_nat.xml 127.0.0.1 "$nat_port"; then ok "REGISTER from behind NAT"
else not_ok "REGISTER behind NAT"; tail -20 "$tmp/sipp.register_nat.xml.log"; fi
nat_stored() {
  sqlite3 "$tmp/var/switchboard.db" "SELECT json FROM registrations WHERE aor='alice'" 2>/dev/null |
    grep -q '"nat":true'
}
if wait_for 3 nat_stored; then ok "the store row says the binding is NAT-rewritten"
else not_ok "store rows: $(sqlite3 "$tmp/var/switchboard.db" "SELECT * FROM registrations" 2>&1)"; fi
if stop; then ok "SIGTERM exits 0"; else not_ok "SIGTERM exit $rc"; tail -20 "$tmp/err"; fi
start || not_ok "restart"
api registrations | jq -e --arg c "sip:alice@127.0.0.1:$nat_port" \
  '.alice | any(.contact == $c and .nat)' >/dev/null &&
  ok "after the restart the binding is still marked nat" ||
  not_ok "registrations: $(api registrations)"
if timeout 10 sipp -sf "$here/uas_options.xml" -m 1 -i 127.0.0.1 -p "$nat_port" -t u1 -nostdin \
  -timeout 5s >"$tmp/sipp.natka.log" 2>&1 </dev/null; then
  ok "after the restart the NAT binding gets its OPTIONS keepalive"
else not_ok "no keepalive to the NAT binding after the restart"; fi

if stop; then ok "clean exit"; else not_ok "exit $rc"; tail -30 "$tmp/err"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
