# Shared by the SIP integration scripts (sourced): a work dir ($tmp, kept
# when SB_KEEP is set) cleaned up at exit with the gateway ($pid) and any
# background helpers (pids in the array helpers), the tally, free ports,
# and starting and stopping the gateway. Expects $bin (the binary);
# start/stop keep the gateway's pid in $pid and stop's exit status in $rc.
tmp=$(mktemp -d)
echo "work dir: $tmp"
pid=
helpers=()
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  for h in "${helpers[@]}"; do kill -9 "$h" 2>/dev/null; done
  [ -n "${SB_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $*"; fail=$((fail + 1)); }

# A port free for both UDP and TCP on loopback, at random in 12000-19999:
# below the kernel's ephemeral range, so that no client socket takes it
# between this check and the bind (and apart from the RTP ranges).
free_port() {
  python3 -c '
import random, socket
while True:
    p = random.randrange(12000, 20000)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = socket.socket()
    try:
        u.bind(("127.0.0.1", p)); t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
'
}

# A media port for SIPp's -mp (it binds this one and the next three), at
# random in 10000-11999 with all four free, apart from free_port's range.
media_port() {
  python3 -c '
import random, socket
while True:
    p = random.randrange(10000, 12000, 4)
    socks = []
    try:
        for i in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind(("127.0.0.1", p + i))
        print(p)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
'
}

# wait_bound PORT...: waits (at most 10 s) until each UDP port is bound,
# read from /proc/net/udp (probing by bind would take the port from the
# process starting): a background SIPp is listening before it is called,
# however slowly it starts on a loaded machine. Fails if one never is.
wait_bound() {
  python3 - "$@" <<'PY'
import sys, time
want = {int(p) for p in sys.argv[1:]}
end = time.monotonic() + 10
while time.monotonic() < end:
    with open("/proc/net/udp") as f:
        bound = {int(l.split()[1].split(":")[1], 16) for l in f.readlines()[1:]}
    if want <= bound:
        sys.exit(0)
    time.sleep(0.02)
sys.exit(1)
PY
}

# conf_head DATA_DIR: the start of a test config: data dir, JSON logs, HTTP
# on $http_port (with admin_token = $token when token is set). The caller
# appends its own sections.
conf_head() {
  printf '[general]\ndata_dir = %s\n[log]\nformat = json\n[http]\nlisten = ws://127.0.0.1:%s\n' \
    "$1" "$http_port"
  [ -n "${token:-}" ] && printf 'admin_token = %s\n' "$token"
  return 0
}

start() { # [config file]: starts the gateway, waits for "switchboard ready"
  [ -f "$tmp/err" ] && cat "$tmp/err" >>"$tmp/err.all"
  "$bin" -c "${1:-$tmp/sb.conf}" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 1 200); do
    grep -q "switchboard ready" "$tmp/err" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

stop() { # SIGTERM, then its exit status (sanitizer reports make it fail)
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  wait "$pid"
  rc=$?
  pid=
  return $rc
}
