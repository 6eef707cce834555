#!/usr/bin/env bash
# The test suite under sanitizers, in a build directory of its own:
#   scripts/sanitize.sh asan   ASan + UBSan: the library, proxy, CLI and every
#                              C++ and black-box suite (not the Python module,
#                              which is built by pip for the interpreter)
#   scripts/sanitize.sh tsan   ThreadSanitizer over the multi-threaded client
#                              types: Producer, Consumer, Admin, Lock, Client/
#                              Server and the pipelines' suites, and over the
#                              proxy's --http threads (proxy_http_metrics)
# Any finding fails the run (halt_on_error, -fno-sanitize-recover). Extra
# arguments go to ctest. Build dir: ${COURIER_SANITIZE_DIR:-build-<kind>}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:?usage: scripts/sanitize.sh asan|tsan [ctest arguments]}
shift
case $kind in
  asan) flags=address,undefined ;;
  tsan) flags=thread ;;
  *) echo "sanitize.sh: unknown kind '$kind' (asan or tsan)" >&2; exit 1 ;;
esac
build=${COURIER_SANITIZE_DIR:-$root/build-$kind}
"$root/scripts/setup-deps.sh"
# -O1 -g1, as the sanitizers' own docs advise: stacks in reports stay exact
# and line tables are all a report prints. Compiling is most of CI's time,
# and this compiles ~1.9x quicker than -O2 -g (docs/reliability.md,
# "Sanitizers").
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOURIER_SANITIZE=$flags \
      "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
      -DCOURIER_BUILD_BENCH=OFF -DCOURIER_BUILD_EXAMPLES=OFF -DCOURIER_INSTALL=OFF \
      -DPython_EXECUTABLE=/usr/bin/python3 >/dev/null
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp"
export COURIER_SANITIZED=$kind  # black-box suites skip their RSS bounds (tests/blackbox/proxy/cqp.py)
cd "$build"
if [ "$kind" = tsan ]; then
  cmake --build . -j "$(nproc)" --target producer_test consumer_test admin_test lock_test lock_child \
        request_test pipeline_test security_test shard_source_test sharded_clients_test courier-proxy
  # Only the client suites, and the proxy's --http suite (its loop is one
  # thread; the HTTP threads share only snapshots with it). Left out: the
  # 10,000-requests stress test, whose server drops replies a client too slow
  # to read them does not take within 1 s (request.hpp) — which a 10x slower
  # TSan build is.
  exec ctest --output-on-failure -j 2 --timeout 600 \
       -R '^(Producer|Consumer|Admin|Lock|Request|Pipeline|Curve|Shard|EtcdSource|proxy_http_metrics)' \
       -E 'TenThousandRequestsInFlight' "$@"
fi
cmake --build . -j "$(nproc)"
exec ctest --output-on-failure -j 2 --timeout 900 -E 'python_binding|Install' "$@"
