#!/usr/bin/env bash
# Switchboard's one setup script: installs Debian packages from
# docker/packages.txt, builds, and runs the gateway or the tests.
# Used by the README quick start, by CI (.ci/run) and by the Dockerfile.
#
#   docker/setup.sh run            install, build, run with conf/switchboard.conf
#   docker/setup.sh test           install, build with ASan+UBSan, run every test
#   docker/setup.sh deps TAG...    install packages tagged TAG (build, run, test)
#   docker/setup.sh build [DIR]    build (DIR defaults to build)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
  local tags="$*" pkgs missing=()
  pkgs=$(awk -v tags=" $tags " '!/^#/ && NF == 2 && index(tags, " " $1 " ") { print $2 }' \
    docker/packages.txt)
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [[ " $tags " == *" test "* ]] && ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}"
  fi
}

# A self-signed development certificate for wss:// and SIP TLS, made once.
dev_cert() {
  local dir=var/tls
  [ -f "$dir/dev.crt" ] && return 0
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/dev.key" -out "$dir/dev.crt" 2>/dev/null
}

build() {
  local dir=${1:-build}; shift || true
  if [ ! -d "$dir" ]; then
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
}

npm_deps() {
  if [ -f tests/e2e/package.json ] && [ ! -d tests/e2e/node_modules ]; then
    (cd tests/e2e && npm install --no-audit --no-fund --loglevel=error)
  fi
}

# Each failed test's name and the end of its output, last in the log where
# a CI page that shows only the tail still has them.
failures() {
  local log
  for log in "$@"; do
    [ -f "$log" ] || continue
    jq -r 'select(.result | test("FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS"))
           | "=== FAILED: \(.name) (\(.result), \(.duration | floor) s)\n"
             + ((.stdout // "") | split("\n") | .[-60:] | join("\n"))' "$log"
  done
}

# The closing line: "N passed, N failed, N skipped" from meson's JSON log.
summary() {
  awk '
    /"result": *"OK"/ || /"result": *"EXPECTEDFAIL"/ { p++ }
    /"result": *"(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"/ { f++ }
    /"result": *"SKIP"/ { s++ }
    END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$@"
}

cmd=${1:-}
shift || true
case "$cmd" in
  deps) deps "$@" ;;
  build) deps build; build "$@" ;;
  run)
    deps build run
    build build --buildtype=release
    dev_cert
    exec build/src/switchboard -c conf/switchboard.conf "$@"
    ;;
  test)
    deps build run test
    npm_deps
    dev_cert
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false
    rc=0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      meson test -C build-asan --print-errorlogs "$@" || rc=$?
    # Every fuzz target runs for a short while with libFuzzer (clang).
    if [ $# -eq 0 ]; then
      CC=clang build build-fuzz -Dfuzzers=true -Dbenchmarks=false \
        -Db_sanitize=address,undefined -Db_lundef=false
      meson test -C build-fuzz --suite fuzz-run --print-errorlogs || rc=$?
    fi
    failures build-asan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json
    summary build-asan/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json
    exit $rc
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
