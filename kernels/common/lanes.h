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

// ld / st of a value W holds: at p, which may be unaligned (a vector then goes cell by cell: W's
// rows are the storage rows less the halo, so they need not start on a vector), and streaming on
// the GPU (evict-first: a step's W is written once and read once, a chunk later, so it should not
// displace the fields from L2; H100, 2D 1000^2 x 4 full-storage gradient 107.1 -> 103.5 ms).
template <typename U, typename T>
SWEEP_HD inline U ld_stream(const T* p) {
  if constexpr (std::is_same_v<U, T>) {
#if defined(__CUDA_ARCH__)
    return __ldcs(p);
#else
    return *p;
#endif
  } else {
    U u;
    if (reinterpret_cast<uintptr_t>(p) % sizeof(U)) {
      for (int i = 0; i < U::n; ++i) u.v[i] = ld_stream<T>(p + i);
      return u;
    }
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) {
      const float4 f = __ldcs(reinterpret_cast<const float4*>(p));
      u.v[0] = f.x, u.v[1] = f.y, u.v[2] = f.z, u.v[3] = f.w;
    } else {
      const double2 f = __ldcs(reinterpret_cast<const double2*>(p));
      u.v[0] = f.x, u.v[1] = f.y;
    }
    return u;
#else
    return ld<U>(p, 0);
#endif
  }
}
template <typename T, typename U>
SWEEP_HD inline void st_stream(T* p, const U& u) {
  if constexpr (std::is_same_v<U, T>) {
#if defined(__CUDA_ARCH__)
    __stcs(p, u);
#else
    *p = u;
#endif
  } else if (reinterpret_cast<uintptr_t>(p) % sizeof(U)) {
    for (int i = 0; i < U::n; ++i) st_stream(p + i, u.v[i]);
  } else {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>)
      __stcs(reinterpret_cast<float4*>(p), make_float4(u.v[0], u.v[1], u.v[2], u.v[3]));
    else
      __stcs(reinterpret_cast<double2*>(p), make_double2(u.v[0], u.v[1]));
#else
    st(p, 0, u);
#endif
  }
}

// accumulate (hd.h) of every lane of u into the cells from p (16-byte aligned for a vector): one
// vector atomic for float vectors where the architecture has it (sm_90 and later: a quarter of
// the adjoint's atomics; H100, 2D 1000^2 x 4 full-storage gradient 111.4 -> 107.1 ms).
template <typename T, typename U>
SWEEP_HD inline void accumulate_lanes(T* p, const U& u) {
  if constexpr (std::is_same_v<U, T>) {
    accumulate(p, u);
  } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if constexpr (std::is_same_v<T, float>) {
      atomicAdd(reinterpret_cast<float4*>(p), make_float4(u.v[0], u.v[1], u.v[2], u.v[3]));
    } else
#endif
    {
      for (int i = 0; i < U::n; ++i) accumulate(p + i, u.v[i]);
    }
  }
}

}  // namespace sweep
