// FUZZ_CHECK: the harnesses' invariant check. A broken invariant aborts, so
// libFuzzer keeps the input as a crash artifact. Header only; used by every
// harness in this directory.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
