// Centred finite-difference coefficients, scaled by 1/dh^2 (second derivative) and 1/dh (first).
// Python computes them once (sweep.equations.stencil) and passes them in, so the reference and
// the kernels use the very same numbers.
#pragma once

#include <cstdint>

#include "common/hd.h"
#include "common/lanes.h"

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

// The cells around the value of type U (T, or a vector of cells along x: lanes.h) at the aligned
// cell j, read by load(q) from the aligned values beside it: at(i)[m] is cell j + i + m, for the
// value's cells i and |m| <= H. `centre`: the value at j, which the caller holds already.
template <typename T, int H, typename U>
struct XWindow {
  static constexpr int N = lanes<T, U>(), L = (H + N - 1) / N;  // L values on each side
  T w[(2 * L + 1) * N];                                         // cells j - L N .. j + (L + 1) N - 1

  template <typename Load>
  SWEEP_HD XWindow(int64_t j, const U& centre, Load&& load) {
    for (int v = 0; v < 2 * L + 1; ++v) {
      const U q = v == L ? centre : load(j + (v - L) * N);
      for (int i = 0; i < N; ++i) w[v * N + i] = lane<T>(q, i);
    }
  }
  SWEEP_HD const T* at(int i) const { return w + L * N + i; }
};

// Second derivative along x of the vector of cells at the aligned cell j, whose neighbours come
// from the aligned vectors u(q) around it; each cell's sum as d2_at sums it.
template <typename T, int H, typename Load>
SWEEP_HD inline Vec<T> d2_x(const Stencil<T, H>& k, int64_t j, Load&& u) {
  const XWindow<T, H, Vec<T>> x(j, u(j), u);
  Vec<T> r;
  for (int i = 0; i < Vec<T>::n; ++i) {
    const T* c = x.at(i);
    T a = k.d2[0] * c[0];
    for (int m = 1; m <= H; ++m) a += k.d2[m] * (c[m] + c[-m]);
    r.v[i] = a;
  }
  return r;
}

// Second derivative along one axis at u (a pointer to the centre cell), of type U: T, or a
// vector of consecutive cells (lanes.h; u aligned).
template <typename T, int H, typename U = T>
SWEEP_HD inline U d2_at(const Stencil<T, H>& k, const T* u, int64_t s) {
  if constexpr (!std::is_same_v<U, T>) {
    if (s == 1) return d2_x(k, 0, [&](int64_t q) { return ld<U>(u, q); });
  }
  U r = k.d2[0] * ld<U>(u, 0);
  for (int m = 1; m <= H; ++m) r += k.d2[m] * (ld<U>(u, m * s) + ld<U>(u, -m * s));
  return r;
}

}  // namespace sweep
