// The host checks' report: each case's largest difference, printed; the exit status says whether
// one was not zero.
#pragma once

#include <cstdio>

struct Report {
  int failed = 0;
  void operator()(const char* name, int nd, double d) {
    std::printf("%s %dD: %g\n", name, nd, d);
    failed |= d != 0;
  }
};
