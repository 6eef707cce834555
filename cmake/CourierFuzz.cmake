# COURIER_FUZZ=ON: the libFuzzer build (fuzz/, docs/reliability.md "Fuzzing").
#
# libFuzzer ships with clang only, so any other compiler is refused here
# rather than failing later with an unknown -fsanitize=fuzzer. Every target of
# this build (library, protocol unit, proxy core) is compiled with coverage
# feedback (fuzzer-no-link) and the sanitizers, so the fuzzer steers by the
# code under test, not only by the harness; only the harness executables link
# libFuzzer's main (fuzz/CMakeLists.txt). Use a build directory of its own.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR
    "COURIER_FUZZ=ON needs clang (libFuzzer is part of clang), but the C++ compiler is "
    "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER}. Configure a separate build directory with "
    "-DCMAKE_CXX_COMPILER=clang++ (Debian: apt-get install clang libclang-rt-14-dev), "
    "or run fuzz/run.sh, which does both.")
endif()

set(COURIER_FUZZ_SANITIZERS "address,undefined" CACHE STRING
    "Sanitizers the fuzz build adds to -fsanitize=fuzzer (comma-separated; empty for none)")
set(courier_fuzz_flags -fsanitize=fuzzer-no-link -fno-omit-frame-pointer)
if(COURIER_FUZZ_SANITIZERS)
  # No recovery: undefined behaviour must stop the run like a crash, so that
  # libFuzzer saves the input.
  list(APPEND courier_fuzz_flags -fsanitize=${COURIER_FUZZ_SANITIZERS} -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${COURIER_FUZZ_SANITIZERS})
endif()
add_compile_options(${courier_fuzz_flags})
# The coverage callbacks in every instrumented program (courier-proxy, tests);
# the harnesses link -fsanitize=fuzzer on top, which brings libFuzzer's main.
add_link_options(-fsanitize=fuzzer-no-link)
