// A cell's value, or a 16-byte vector of the values of consecutive cells along x (Vec<T>), so that
// the per-cell formulas (acoustic_rows.h) also run on vectors: the CUDA kernels' threads take a
// vector where the rows allow it (aligned), with one load instruction for Vec<T>::n cells.
#pragma once

#include <cstdint>
#include <type_traits>

#include "common/hd.h"

namespace sweep {

template <typename T>
struct alignas(16) Vec {
  static constexpr int n = 16 / sizeof(T);
  T v[n];

  SWEEP_HD Vec& operator+=(const Vec& b) {
    for (int i = 0; i < n; ++i) v[i] += b.v[i];
    return *this;
  }
  SWEEP_HD Vec& operator-=(const Vec& b) {
    for (int i = 0; i < n; ++i) v[i] -= b.v[i];
    return *this;
  }
};

template <typename T>
SWEEP_HD inline Vec<T> operator+(Vec<T> a, const Vec<T>& b) {
  return a += b;
}
template <typename T>
SWEEP_HD inline Vec<T> operator-(Vec<T> a, const Vec<T>& b) {
  return a -= b;
}
template <typename T>
SWEEP_HD inline Vec<T> operator*(Vec<T> a, const Vec<T>& b) {
  for (int i = 0; i < Vec<T>::n; ++i) a.v[i] *= b.v[i];
  return a;
}
template <typename T>
SWEEP_HD inline Vec<T> operator*(T s, Vec<T> a) {
  for (int i = 0; i < Vec<T>::n; ++i) a.v[i] = s * a.v[i];
  return a;
}

// The value of type U (T or Vec<T>) at cell q of p (for a vector, q and the next n - 1 cells;
// p + q 16-byte aligned), and its store.
template <typename U, typename T>
SWEEP_HD inline U ld(const T* p, int64_t q) {
  if constexpr (std::is_same_v<U, T>) {
    return p[q];
  } else {
    return *reinterpret_cast<const U*>(p + q);
  }
}
template <typename T, typename U>
SWEEP_HD inline void st(T* p, int64_t q, const U& u) {
  if constexpr (std::is_same_v<U, T>) {
    p[q] = u;
  } else {
    *reinterpret_cast<U*>(p + q) = u;
  }
}

// Cells in a value of type U (T: one).
template <typename T, typename U>
constexpr int lanes() {
  if constexpr (std::is_same_v<U, T>) {
    return 1;
  } else {
    return U::n;
  }
}

// Cell i of u.
template <typename T, typename U>
SWEEP_HD inline T lane(const U& u, int i) {
  if constexpr (std::is_same_v<U, T>) {
    return u;
  } else {
    return u.v[i];
  }
}
template <typename T, typename U>
SWEEP_HD inline T& lane(U& u, int i) {
  if constexpr (std::is_same_v<U, T>) {
    return u;
  } else {
    return u.v[i];
  }
}

// ld / st at p where p may be unaligned (a vector then goes cell by cell): W's rows are the
// storage rows less the halo, so they need not start on a vector.
template <typename U, typename T>
SWEEP_HD inline U ld_any(const T* p) {
  if constexpr (!std::is_same_v<U, T>) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(U)) {
      U u;
      for (int i = 0; i < U::n; ++i) u.v[i] = p[i];
      return u;
    }
  }
  return ld<U>(p, 0);
}
template <typename T, typename U>
SWEEP_HD inline void st_any(T* p, const U& u) {
  if constexpr (!std::is_same_v<U, T>) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(U)) {
      for (int i = 0; i < U::n; ++i) p[i] = u.v[i];
      return;
    }
  }
  st(p, 0, u);
}

}  // namespace sweep
