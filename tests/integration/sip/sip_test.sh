#!/usr/bin/env bash
# SIP integration tests with SIPp against the real binary: registration with
# digest (good and wrong password), persistence across a restart, INVITE
# authentication and routing, hostile input (RFC 4475/5118 torture messages,
# garbage, oversized datagrams) with the process staying up and answering.
# Then, with trunks that are SIPp instances, the dialog features: PRACK of a
# reliable 183 with early media, session timers (refresh by UPDATE, expiry
# ending the call, 422 both ways), a 302 followed in q order, an inbound
# re-INVITE putting the call on hold and back (and one CANCELled while it
# waits for the media plane's answer: the dialog stays), and the media plane's offer
# to trunks with [trunk] codecs and srtp (SDES lines; an answer without one
# refused).
# Usage: sip_test.sh SWITCHBOARD_BINARY SOURCE_DIR TESTDATA_DIR
set -u
bin=$1
here=$2/tests/integration/sip
testdata=$3
. "$here/lib.sh"

sip_port=$(free_port)
http_port=$(free_port)
sipp_port=$(free_port)

{ conf_head "$tmp/var"; cat <<CONF
[sip]
listen = udp:127.0.0.1:$sip_port
register_min_expires = 60
[user alice]
password = alice-secret
CONF
} >"$tmp/sb.conf"


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

# ---- Dialog features: calls from a SIPp "trunk" routed to SIPp trunks ----

# Each far end is a SIPp UAS on its own port; the caller (also SIPp, seen
# as a trunk by its address) dials a number routed to it.
p_prack=$(free_port); p_timer=$(free_port); p_expire=$(free_port); p_minse=$(free_port)
p_redir=$(free_port); p_ok=$(free_port); p_busy=$(free_port); p_auth=$(free_port); p_pcma=$(free_port)
p_sdes=$(free_port); p_sdesno=$(free_port); p_rcancel=$(free_port)
{ conf_head "$tmp/var2"; cat <<CONF
[sip]
listen = udp:127.0.0.1:$sip_port
[media]
workers = 1
CONF
} >"$tmp/dlg.conf"
for t in prack:2001:$p_prack timer:2002:$p_timer expire:2003:$p_expire minse:2004:$p_minse \
  redirect:2005:$p_redir; do
  IFS=: read -r name number port <<<"$t"
  printf '[trunk %s]\nhost = 127.0.0.1\nport = %s\noptions_interval = 0\n' "$name" "$port" >>"$tmp/dlg.conf"
  printf '[route %s]\ndestination = %s\naction = trunk\ntarget = %s\n' "$name" "$number" "$name" >>"$tmp/dlg.conf"
done
printf '[trunk auth]\nhost = 127.0.0.1\nport = %s\noptions_interval = 0\nusername = trunkuser\npassword = trunk-secret\n' "$p_auth" >>"$tmp/dlg.conf"
printf '[route auth]\ndestination = 2006\naction = trunk\ntarget = auth\n' >>"$tmp/dlg.conf"
printf '[trunk pcma]\nhost = 127.0.0.1\nport = %s\noptions_interval = 0\ncodecs = PCMA\n' "$p_pcma" >>"$tmp/dlg.conf"
printf '[route pcma]\ndestination = 2007\naction = trunk\ntarget = pcma\n' >>"$tmp/dlg.conf"
printf '[trunk sdes]\nhost = 127.0.0.1\nport = %s\noptions_interval = 0\ncodecs = PCMA\nsrtp = sdes\n' "$p_sdes" >>"$tmp/dlg.conf"
printf '[route sdes]\ndestination = 2008\naction = trunk\ntarget = sdes\n' >>"$tmp/dlg.conf"
printf '[trunk sdesno]\nhost = 127.0.0.1\nport = %s\noptions_interval = 0\nsrtp = sdes\n' "$p_sdesno" >>"$tmp/dlg.conf"
printf '[route sdesno]\ndestination = 2009\naction = trunk\ntarget = sdesno\n' >>"$tmp/dlg.conf"
printf '[trunk rcancel]\nhost = 127.0.0.1\nport = %s\noptions_interval = 0\n' "$p_rcancel" >>"$tmp/dlg.conf"
printf '[route rcancel]\ndestination = 2010\naction = trunk\ntarget = rcancel\n' >>"$tmp/dlg.conf"
printf '[route echo]\ndestination = echo\naction = echo\n' >>"$tmp/dlg.conf"

sipp_bg() { # name scenario port timeout_s [sipp args...]: starts SIPp, sets pid_<name>
  local name=$1 sf=$2 port=$3 t=$4
  shift 4
  timeout "$t" sipp -sf "$here/$sf" -m 1 -l 1 -i 127.0.0.1 -p "$port" -mp "$(media_port)" -t u1 \
    -timeout "$((t - 5))s" -nostdin "$@" >"$tmp/sipp.$name.log" 2>&1 </dev/null &
  eval "pid_$name=$!"
}
uac() { # name scenario number timeout_s [sipp args...]: a call through switchboard
  local name=$1 sf=$2 number=$3 t=$4
  shift 4
  sipp_bg "$name" "$sf" "$(free_port)" "$t" -s "$number" "$@" 127.0.0.1:"$sip_port"
}
settle() { # description name...: waits for the SIPp runs of a test
  local desc=$1 bad=
  shift
  for n in "$@"; do
    eval "wait \$pid_$n" || { bad=1; echo "# sipp $n failed:"; tail -15 "$tmp/sipp.$n.log"; }
  done
  if [ -z "$bad" ]; then ok "$desc"; else not_ok "$desc"; fi
}

start "$tmp/dlg.conf" || { not_ok "switchboard did not start (dialog config)"; cat "$tmp/err"; }

# The session timer tests take 40-90 s: they run while the others go on.
sipp_bg timer_uas uas_timer_refresh.xml "$p_timer" 110
sipp_bg expire_uas uas_timer_expire.xml "$p_expire" 110
wait_bound "$p_timer" "$p_expire"
uac timer_uac uac_call_wait_bye.xml 2002 110
uac expire_uac uac_call_wait_bye.xml 2003 110

sipp_bg prack_uas uas_100rel.xml "$p_prack" 25
wait_bound "$p_prack"
uac prack_uac uac_call_early.xml 2001 25 -d 1000
settle "100rel: the reliable 183 is PRACKed, its early media reaches the caller, then 200" \
  prack_uas prack_uac

sipp_bg minse_uas uas_min_se.xml "$p_minse" 25
wait_bound "$p_minse"
uac minse_uac uac_call.xml 2004 25 -d 1000
settle "422 Min-SE: 3600 from the far end: the INVITE is retried with 3600 and answered" \
  minse_uas minse_uac

sipp_bg auth_uas uas_auth.xml "$p_auth" 25
wait_bound "$p_auth"
uac auth_uac uac_call.xml 2006 25 -d 1000
settle "a trunk's 401 on our INVITE: answered with its credentials (digest verified), then 200" \
  auth_uas auth_uac

sipp_bg pcma_uas uas_pcma_only.xml "$p_pcma" 25
wait_bound "$p_pcma"
uac pcma_uac uac_call.xml 2007 25 -d 1000
settle "[trunk] codecs = PCMA: the media plane offers the trunk PCMA alone (then telephone-event), it answers it" \
  pcma_uas pcma_uac

sipp_bg sdes_uas uas_sdes.xml "$p_sdes" 25
wait_bound "$p_sdes"
uac sdes_uac uac_call.xml 2008 25 -d 1000
settle "[trunk] srtp = sdes, codecs = PCMA: RTP/SAVP 8 101 with a crypto line per suite, answered with one" \
  sdes_uas sdes_uac

sipp_bg sdesno_uas uas_sdes_refused.xml "$p_sdesno" 25
wait_bound "$p_sdesno"
uac sdesno_uac uac_call_wait_bye.xml 2009 25
settle "[trunk] srtp = sdes answered in clear (no a=crypto): the call ends with BYE both ways" \
  sdesno_uas sdesno_uac

uac short uac_short_timer.xml 2001 20
settle "an INVITE asking for a 30 s session interval gets 422 with Min-SE: 90" short

sipp_bg redir_uas uas_redirect.xml "$p_redir" 25 -s 2005 \
  -key ok_uri "sip:ok@127.0.0.1:$p_ok" -key busy_uri "sip:busy@127.0.0.1:$p_busy"
sipp_bg ok_uas uas_echo_pcmu.xml "$p_ok" 25
sipp_bg busy_uas uas_busy.xml "$p_busy" 25
wait_bound "$p_redir" "$p_ok" "$p_busy"
uac redir_uac uac_call.xml 2005 25 -d 1000
settle "302: Contacts followed in q order (486 from the first, 200 from the next)" \
  redir_uas busy_uas ok_uas redir_uac
grep -q "redirect to sip:2005@127.0.0.1:$p_redir skipped: tried already" "$tmp/err" \
  && ok "302 back to a target already tried is not followed" \
  || not_ok "the self-redirect was not skipped"

uac hold uac_hold.xml echo 25
settle "re-INVITE hold (sendonly, c=0.0.0.0, inactive) and resume answered with the mirrored direction" hold
if grep -q "held by the party (sendonly)" "$tmp/err" && grep -q "resumed by the party (sendrecv)" "$tmp/err"; then
  ok "the engine hears of the hold and the resume"
else not_ok "no hold/resume in the engine's log"; fi

# A CANCEL of a re-INVITE waiting for media's answer ends the re-INVITE
# (487), not the dialog: the caller's BYE then reaches the far end.
sipp_bg rcancel_uas uas_echo_held_maybe.xml "$p_rcancel" 25
wait_bound "$p_rcancel"
if python3 "$here/reinvite_cancel.py" "$sip_port" 2010 >"$tmp/rcancel.log" 2>&1; then
  ok "a cancelled re-INVITE: 200 to the CANCEL, 487 to the re-INVITE, the dialog goes on"
else not_ok "a cancelled re-INVITE"; cat "$tmp/rcancel.log"; fi
settle "after a cancelled re-INVITE the caller's BYE ends the call: the far end gets BYE" rcancel_uas

settle "session timer: switchboard refreshes by UPDATE within the 90 s (refresher=uac)" \
  timer_uas timer_uac
settle "session timer: an unrefreshed session (refresher=uas) ends with BYE on both legs" \
  expire_uas expire_uac
if stop; then ok "clean exit after the dialog tests"; else not_ok "exit $rc after the dialog tests"; tail -30 "$tmp/err"; fi
cdrs=$(sqlite3 "$tmp/var2/switchboard.db" "SELECT json FROM cdrs" 2>&1)
case "$cdrs" in
  *'"cause":"session_expired"'*) ok "the expired session's CDR says session_expired" ;;
  *) not_ok "no CDR with cause session_expired" ;;
esac
case "$cdrs" in
  *'"cause":"srtp_refused"'*) ok "the call whose trunk refused SDES has a CDR with cause srtp_refused" ;;
  *) not_ok "no CDR with cause srtp_refused" ;;
esac

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
