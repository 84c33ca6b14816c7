// Centred finite-difference coefficients, scaled by 1/dh^2 (second derivative) and 1/dh (first).
// Python computes them once (sweep.equations.stencil) and passes them in, so the reference and
// the kernels use the very same numbers.
#pragma once

#include <cstdint>

#include "common/hd.h"

namespace sweep {

template <typename T, int H>
struct Stencil {
  T d2[H + 1];  // d2[0] centre, d2[m] weight of the neighbours at +-m
  T d1[H + 1];  // d1[m] weight of (u[+m] - u[-m]); d1[0] unused

  SWEEP_HD static Stencil load(const T* coef) {  // coef: (2, H+1) row-major
    Stencil s;
    for (int m = 0; m <= H; ++m) {
      s.d2[m] = coef[m];
      s.d1[m] = coef[H + 1 + m];
    }
    return s;
  }
};

// Second derivative along one axis at u (a pointer to the centre cell).
template <typename T, int H>
SWEEP_HD inline T d2_at(const Stencil<T, H>& k, const T* u, int64_t s) {
  T r = k.d2[0] * u[0];
  for (int m = 1; m <= H; ++m) r += k.d2[m] * (u[m * s] + u[-m * s]);
  return r;
}

}  // namespace sweep
