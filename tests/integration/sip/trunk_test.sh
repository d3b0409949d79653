#!/usr/bin/env bash
# Trunks, NAT and a real softphone against the real binary, all on loopback:
# registration toward a SIPp registrar (401 digest, refresh on a short
# expiry, 503, backoff, retry); OPTIONS keepalive toward a SIPp trunk that
# answers, stops (down) and comes back (up); REGISTER over TCP; a phone
# behind NAT whose Contact is rewritten to its source and kept alive with
# OPTIONS; baresip registering and its binding surviving a restart. States
# are read from /api/v1/trunks, /api/v1/registrations and /metrics.
# Usage: trunk_test.sh SWITCHBOARD_BINARY SOURCE_DIR
set -u
bin=$1
here=$2/tests/integration/sip
. "$here/lib.sh"

sip_port=$(free_port)
http_port=$(free_port)
reg_port=$(free_port)
opt_port=$(free_port)
sipp_port=$(free_port)
nat_port=$(free_port)
phone_port=$(free_port)
tls_port=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -keyout "$tmp/tls.key" -out "$tmp/tls.crt" >/dev/null 2>&1
token=trunk-test-token

{ conf_head "$tmp/var"; cat <<CONF
[sip]
listen = udp:127.0.0.1:$sip_port,tcp:127.0.0.1:$sip_port,tls:127.0.0.1:$tls_port
tls_cert = $tmp/tls.crt
tls_key = $tmp/tls.key
nat_keepalive_interval = 1
[user alice]
password = alice-secret
[user bob]
password = bob-secret
[trunk carrier]
host = 127.0.0.1
port = $reg_port
register = true
username = sbtrunk
password = trunk-secret
register_retry_min = 2
register_retry_max = 8
options_interval = 0
[trunk backup]
host = 127.0.0.1
port = $opt_port
options_interval = 1
options_down_after = 2
[route out]
destination = 9*
action = trunk
target = backup
CONF
} >"$tmp/sb.conf"


api() { curl -s -m 2 -H "Authorization: Bearer $token" "http://127.0.0.1:$http_port/api/v1/$1"; }
metrics() { curl -s -m 2 "http://127.0.0.1:$http_port/metrics"; }
# trunk NAME JQ-FILTER: true when the filter holds for that trunk's state.
trunk() { api trunks | jq -e --arg n "$1" ".[] | select(.name == \$n) | $2" >/dev/null 2>&1; }
# wait_for SECONDS COMMAND...: polls every 100 ms.
wait_for() {
  local end=$((SECONDS + $1))
  shift
  while [ $SECONDS -le $end ]; do "$@" && return 0; sleep 0.1; done
  return 1
}
# sipp_bg NAME ARGS...: a SIPp in the background, bounded in time; its pid
# in $last.
sipp_bg() {
  local name=$1
  shift
  timeout 60 sipp "$@" -i 127.0.0.1 -nostdin -trace_err -error_file "$tmp/sipp.$name.err" \
    >"$tmp/sipp.$name.log" 2>&1 </dev/null &
  last=$!
  helpers+=("$last")
}
sipp_uac() { # scenario port transport
  timeout 20 sipp -sf "$here/$1" -m 1 -l 1 -i 127.0.0.1 -p "$2" -t "$3" -timeout 10s -nostdin \
    127.0.0.1:"$sip_port" >"$tmp/sipp.uac.$1.$3.log" 2>&1 </dev/null
}

# The upstream registrar and the keepalive target are there first.
sipp_bg registrar -sf "$here/uas_registrar.xml" -p "$reg_port" -t u1 -m 2
reg_sipp=$last
sipp_bg options1 -sf "$here/uas_options.xml" -p "$opt_port" -t u1 -m 4
opt_sipp=$last
wait_bound "$reg_port" "$opt_port"
start || { not_ok "switchboard did not start"; cat "$tmp/err"; exit 1; }
up_is() { metrics | grep -q "^switchboard_sip_trunk_up{trunk=\"backup\"} $1\$"; }
if wait_for 3 up_is 1; then ok "keepalive answered: trunk up"; else not_ok "trunk not up: $(api trunks)"; fi

# 1. Registration client.
if wait_for 5 trunk carrier '.registration == "registered"'; then
  ok "trunk registers upstream, answering the 401 digest challenge"
else not_ok "trunk not registered: $(api trunks)"; fi
if wait_for 5 trunk carrier '.registrations >= 2'; then
  ok "registration refreshed before the granted 3 s run out"
else not_ok "no refresh: $(api trunks)"; fi
if wait_for 5 trunk carrier '.registration == "backoff" and .last_status == 503 and .retry_in <= 2'; then
  ok "503 on refresh: backoff, retry within register_retry_min"
else not_ok "no backoff after 503: $(api trunks)"; fi
if wait_for 6 trunk carrier '.registration == "registered" and .registrations >= 3'; then
  ok "registered again after the backoff (new challenge answered)"
else not_ok "no retry after backoff: $(api trunks)"; fi
if wait "$reg_sipp"; then ok "the registrar saw valid digests, the refresh, the 503 and the retry"
else not_ok "registrar scenario failed"; tail -20 "$tmp/sipp.registrar.log" "$tmp/sipp.registrar.err"; fi
# The registrar is gone: each retry fails and the backoff doubles.
if wait_for 12 trunk carrier '.registration == "backoff" and .failures >= 2 and .retry_in >= 2'; then
  ok "registrar gone: backoff doubles ($(api trunks | jq -c '.[0] | {failures, retry_in}'))"
else not_ok "backoff did not grow: $(api trunks)"; fi
metrics | grep -q '^switchboard_sip_trunk_registered{trunk="carrier"} 0' &&
  metrics | grep -Eq '^switchboard_sip_trunk_registrations_total\{trunk="carrier"\} [3-9]' &&
  ok "registration state on /metrics" || not_ok "metrics: $(metrics | grep sip_trunk)"

# 2. OPTIONS keepalive: up while answered (checked first thing above), down
# after two misses, up again.
wait "$opt_sipp" || not_ok "the first keepalive target failed"
if wait_for 6 up_is 0; then ok "keepalive unanswered twice: trunk down"
else not_ok "trunk not down: $(api trunks)"; fi
if sipp_uac invite_trunk_down.xml "$sipp_port" u1; then ok "a call routed to the down trunk: 503"
else not_ok "call to a down trunk"; tail -20 "$tmp/sipp.uac.invite_trunk_down.xml.u1.log"; fi
sipp_bg options2 -sf "$here/uas_options.xml" -p "$opt_port" -t u1 -m 2
opt_sipp=$last
if wait_for 5 up_is 1; then ok "keepalive answered again: trunk up"
else not_ok "trunk not up again: $(api trunks)"; fi
wait "$opt_sipp"
grep -q '"trunk backup: down' "$tmp/err" && grep -q '"trunk backup: up' "$tmp/err" &&
  ok "state changes logged" || not_ok "state changes not logged"

# 3. TCP listener: REGISTER with digest over TCP.
if sipp_uac register_auth.xml "$sipp_port" t1; then ok "REGISTER over TCP: 401, then 200"
else not_ok "REGISTER over TCP"; tail -20 "$tmp/sipp.uac.register_auth.xml.t1.log"; fi

# TLS listener (this SIPp has no TLS): a REGISTER through openssl s_client
# is answered by the registrar with its challenge.
tls_first_line() {
  printf '%s\r\n' "REGISTER sip:127.0.0.1:$tls_port SIP/2.0" \
    "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-tls-1;rport" \
    "From: <sip:alice@localhost>;tag=tls1" "To: <sip:alice@localhost>" "Call-ID: tls-1@test" \
    "CSeq: 1 REGISTER" "Contact: <sip:alice@127.0.0.1:5999;transport=tls>" "Max-Forwards: 70" \
    "Content-Length: 0" "" |
    timeout 3 openssl s_client -connect "127.0.0.1:$tls_port" -quiet -ign_eof 2>/dev/null | head -1
}
case "$(tls_first_line)" in
  "SIP/2.0 401 Unauthorized"*) ok "REGISTER over TLS reaches the registrar (401 challenge)" ;;
  *) not_ok "TLS: '$(tls_first_line)'" ;;
esac

# 4. NAT: the Contact names 192.0.2.10; the binding is the source address.
if sipp_uac register_nat.xml "$nat_port" u1; then
  ok "REGISTER from behind NAT: the 200 lists the observed source address"
else not_ok "REGISTER behind NAT"; tail -20 "$tmp/sipp.uac.register_nat.xml.u1.log"; fi
api registrations | jq -e --arg c "sip:alice@127.0.0.1:$nat_port" \
  '.alice | any(.contact == $c and .nat)' >/dev/null &&
  ok "binding stored as sip:alice@127.0.0.1:$nat_port (nat)" ||
  not_ok "registrations: $(api registrations)"
if timeout 10 sipp -sf "$here/uas_options.xml" -m 1 -i 127.0.0.1 -p "$nat_port" -t u1 -nostdin \
  -timeout 5s >"$tmp/sipp.natka.log" 2>&1 </dev/null; then
  ok "OPTIONS keepalive reaches the NAT binding"
else not_ok "no keepalive to the NAT binding"; fi

# 5. baresip registers as bob.
mkdir -p "$tmp/baresip"
cat >"$tmp/baresip/config" <<CONF
poll_method epoll
sip_listen 127.0.0.1:$phone_port
module_path /usr/lib/baresip/modules
module g711.so
module_app account.so
CONF
echo "<sip:bob@127.0.0.1:$sip_port;transport=udp>;auth_pass=bob-secret;regint=60" \
  >"$tmp/baresip/accounts"
timeout 60 baresip -f "$tmp/baresip" -t 55 >"$tmp/baresip.log" 2>&1 </dev/null &
phone=$!
helpers+=("$phone")
bob_is_there() {
  api registrations | jq -e --arg p ":$phone_port" '.bob | any(.contact | contains($p))' >/dev/null 2>&1
}
if wait_for 10 bob_is_there; then ok "baresip registered: $(api registrations | jq -c .bob)"
else not_ok "baresip not registered: $(api registrations)"; tail -20 "$tmp/baresip.log"; fi
bob_stored() {
  sqlite3 "$tmp/var/switchboard.db" "SELECT contact FROM registrations WHERE aor='bob'" 2>/dev/null |
    grep -q ":$phone_port"
}
# The store writes in batches on its own thread.
if wait_for 3 bob_stored; then ok "baresip's binding is in the store"
else not_ok "store rows: $(sqlite3 "$tmp/var/switchboard.db" "SELECT * FROM registrations" 2>&1)"; fi
if stop; then ok "SIGTERM exits 0"; else not_ok "SIGTERM exit $rc"; tail -20 "$tmp/err"; fi
start || not_ok "restart"
if bob_is_there; then ok "after a restart baresip's binding is still there (from the store)"
else not_ok "binding lost on restart: $(api registrations)"; fi

kill -TERM "$phone" 2>/dev/null
wait "$phone" 2>/dev/null
if stop; then ok "clean exit"; else not_ok "exit $rc"; tail -30 "$tmp/err"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
