# bench/lib/proxy_bench.sh — what the proxy benchmark scripts share: logging,
# free loopback ports, starting courier-proxy fresh and knowing it is ready
# (CQP1 PING with pyzmq), stopping processes by PID, /proc readings, and one
# JSON line per result. Sourced, not run. The functions read these globals
# when called: PROXY (the binary), work (the run's temp dir), OUT (the JSON
# lines file), proxy_ep (set by start_proxy's caller).

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop_pid() {  # stop_pid PID SECONDS: TERM, wait up to SECONDS, then KILL
  local pid=$1 secs=$2 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored TERM for ${secs}s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Writes $work/cqp1_ping.py: CQP1 PING with pyzmq (Debian's python3-zmq, for
# /usr/bin/python3), exit 0 on PONG within SECONDS.
write_cqp1_ping() {
  /usr/bin/python3 -c 'import zmq' 2>/dev/null ||
    die "the readiness check needs pyzmq for /usr/bin/python3: apt-get install python3-zmq"
  cat >"$work/cqp1_ping.py" <<'PY'
import sys, zmq
s = zmq.Context().socket(zmq.DEALER)
s.linger = 0
s.connect(sys.argv[1])
s.send_multipart([b"CQP1", b"PING", b"\x80"])
sys.exit(0 if s.poll(int(float(sys.argv[2]) * 1000)) else 1)
PY
}

start_proxy() {  # start_proxy DATA_DIR [ARGS...]; sets proxy_pid and ready_s (seconds to first PONG)
  local data=$1 t0 i
  shift
  t0=$(date +%s.%N)
  "$PROXY" --listen "$proxy_ep" --data "$data" --log-level warn "$@" >>"$work/proxy.log" 2>&1 &
  proxy_pid=$!
  for ((i = 0; i < 600; i++)); do
    kill -0 "$proxy_pid" 2>/dev/null || die "courier-proxy exited (see $work/proxy.log)"
    if /usr/bin/python3 "$work/cqp1_ping.py" "$proxy_ep" 1; then
      ready_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
      return 0
    fi
    sleep 0.1
  done
  die "courier-proxy not answering PING after 60 s"
}
stop_proxy() { stop_pid "$proxy_pid" 10; proxy_pid=""; }

# Clock ticks (utime + stime) of a process: integers, so differences are exact.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

emit() { echo "$1" >>"$OUT"; echo "$1"; }

# ensure_built BUILD_DIR TARGET...: configures BUILD_DIR (RelWithDebInfo, no
# tools, examples or tests) when it is new, then builds the targets.
ensure_built() {
  local build=$1 root
  shift
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOURIER_BUILD_TOOLS=OFF \
          -DCOURIER_BUILD_EXAMPLES=OFF -DCOURIER_BUILD_TESTS=OFF >&2
  fi
  cmake --build "$build" --target "$@" -j2 >&2
}

# cleanup (the script's own function) runs on exit; INT and TERM exit through it.
trap_cleanup() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
