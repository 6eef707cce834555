// fuzz/fuzz_check.hpp — how a harness says "this property broke".
//
// A failed property must stop libFuzzer exactly like a crash does, with the
// input saved and the reason printed, so it is an abort() with a message —
// not an assert(), which NDEBUG (RelWithDebInfo) would compile away.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: property failed: %s\n  ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                  \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
