#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses (docs/reliability.md, "Fuzzing").
#   fuzz/run.sh BUILD_DIR [SECONDS_PER_HARNESS] [HARNESS...]   the long run, by hand
#   fuzz/run.sh BUILD_DIR ctest                                 the short CI form
# Configures BUILD_DIR (a directory of its own) with clang, COURIER_FUZZ=ON and
# -fsanitize=fuzzer,address,undefined and builds the harnesses. The CI form
# then runs ctest -L fuzz: each harness a fixed number of executions from its
# seed corpus and fuzz/regressions/. The long form runs each harness (all by
# default) for SECONDS (default 300); what it learns stays in BUILD_DIR: new
# inputs in fuzz-corpus/<harness> (reused next time), crashes in
# fuzz-artifacts/<harness>/, the log in fuzz-logs/<harness>.log. It prints one
# line of figures per harness and exits non-zero if any found a failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS_PER_HARNESS|ctest] [HARNESS...]}
seconds=${2:-300}
shift $(( $# >= 2 ? 2 : $# ))
all=(cqp1_header_fuzz cqp1_replies_fuzz request_header_fuzz codec_decode_fuzz
     json_to_msgpack_fuzz msgpack_to_json_fuzz broker_fuzz segment_fuzz)
harnesses=("${@:-${all[@]}}")

"$root/scripts/setup-deps.sh"  # clang and libclang-rt are in its list
# Only what the harnesses need: the fuzz build instruments every target.
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCOURIER_FUZZ=ON -DCOURIER_BUILD_TESTS=OFF -DCOURIER_BUILD_TOOLS=OFF \
  -DCOURIER_BUILD_EXAMPLES=OFF -DCOURIER_BUILD_BENCH=OFF -DCOURIER_INSTALL=OFF >/dev/null
cmake --build "$build" -j "${COURIER_FUZZ_JOBS:-2}" --target "${harnesses[@]}"

if [ "$seconds" = ctest ]; then
  cd "$build"
  exec ctest --output-on-failure -L fuzz -j 2
fi

failed=0
for h in "${harnesses[@]}"; do
  corpus="$build/fuzz-corpus/$h" artifacts="$build/fuzz-artifacts/$h/" log="$build/fuzz-logs/$h.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  seeds=("$root/fuzz/corpus/$h")
  [ -d "$root/fuzz/regressions/$h" ] && seeds+=("$root/fuzz/regressions/$h")  # inputs that once failed
  rc=0
  "$build/fuzz/$h" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  figures=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
  crashes=$(find "$artifacts" -type f | wc -l)
  printf '%-22s %ss  executions %-10s %s  crashes %s  rc %s\n' "$h" "$seconds" "${execs:-?}" "$figures" "$crashes" "$rc"
  [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ] || failed=1
done
exit $failed
