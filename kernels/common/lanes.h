// A cell's value, or a 16-byte vector of the values of consecutive cells along x (Vec<T>), so that
// the per-cell formulas (acoustic_rows.h) also run on vectors: the CUDA kernels' threads take a
// vector where the rows allow it (aligned), with one load instruction for Vec<T>::n cells.
#pragma once

#include <cstdint>
#include <cstring>
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

// The lanes of a vector that a thread stores, bit i for cell q + i: all of them (kAllLanes), or,
// for a vector that straddles an end of the updated cells [lo, hi) of a row, those inside, so
// that rows whose updated range does not start and end on a vector still go by vector (the
// loads stay whole: the halo and the dead cells lie past every row's end).
using LaneMask = unsigned;
constexpr LaneMask kAllLanes = ~0u;
template <int N>
SWEEP_HD inline LaneMask lanes_inside(int64_t x, int64_t lo, int64_t hi) {
  if (x >= lo && x + N <= hi) return kAllLanes;
  LaneMask m = 0;
  for (int i = 0; i < N; ++i)
    if (x + i >= lo && x + i < hi) m |= 1u << i;
  return m;
}
SWEEP_HD inline bool has_lane(LaneMask m, int i) { return m >> i & 1u; }

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
// A vector's st stores the lanes in m only (a cell: always).
template <typename T, typename U>
SWEEP_HD inline void st(T* p, int64_t q, const U& u, LaneMask m = kAllLanes) {
  if constexpr (std::is_same_v<U, T>) {
    p[q] = u;
  } else if (m != kAllLanes) {
    for (int i = 0; i < U::n; ++i)
      if (has_lane(m, i)) p[q + i] = u.v[i];
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

#if defined(__CUDA_ARCH__)
// A vector as CUDA's built-in vector of the same 16 bytes (float4, double2), for the intrinsics
// that take one, and back.
template <typename T>
using Native = std::conditional_t<std::is_same_v<T, float>, float4, double2>;
template <typename T>
__device__ inline Native<T> native(const Vec<T>& u) {
  Native<T> r;
  memcpy(&r, &u, sizeof r);
  return r;
}
template <typename T>
__device__ inline Vec<T> from_native(const Native<T>& r) {
  Vec<T> u;
  memcpy(&u, &r, sizeof u);
  return u;
}
#endif

// ld / st of a value W holds: at p, which may be unaligned (a vector then goes cell by cell: W's
// rows are the storage rows less the halo, so they need not start on a vector), and streaming on
// the GPU (evict-first: a step's W is written once and read once, a chunk later, so it should not
// displace the fields from L2; H100, 2D 1000^2 x 4 full-storage gradient 107.1 -> 103.5 ms).
template <typename U, typename T>
SWEEP_HD inline U ld_stream(const T* p) {
  if constexpr (!std::is_same_v<U, T>) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(U)) {
      U u;
      for (int i = 0; i < U::n; ++i) u.v[i] = ld_stream<T>(p + i);
      return u;
    }
  }
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<U, T>)
    return __ldcs(p);
  else
    return from_native<T>(__ldcs(reinterpret_cast<const Native<T>*>(p)));
#else
  return ld<U>(p, 0);
#endif
}
template <typename T, typename U>
SWEEP_HD inline void st_stream(T* p, const U& u) {
  if constexpr (!std::is_same_v<U, T>) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(U)) {
      for (int i = 0; i < U::n; ++i) st_stream(p + i, u.v[i]);
      return;
    }
  }
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<U, T>)
    __stcs(p, u);
  else
    __stcs(reinterpret_cast<Native<T>*>(p), native(u));
#else
  st(p, 0, u);
#endif
}

// ld_stream / st_stream of the lanes in m only; ld_stream's others are zero (and not read: a
// vector straddling a row's end in W would reach past W's row).
template <typename U, typename T>
SWEEP_HD inline U ld_stream(const T* p, LaneMask m) {
  if constexpr (!std::is_same_v<U, T>) {
    if (m != kAllLanes) {
      U u{};
      for (int i = 0; i < U::n; ++i)
        if (has_lane(m, i)) u.v[i] = ld_stream<T>(p + i);
      return u;
    }
  }
  return ld_stream<U>(p);
}
template <typename T, typename U>
SWEEP_HD inline void st_stream(T* p, const U& u, LaneMask m) {
  if constexpr (!std::is_same_v<U, T>) {
    if (m != kAllLanes) {
      for (int i = 0; i < U::n; ++i)
        if (has_lane(m, i)) st_stream(p + i, u.v[i]);
      return;
    }
  }
  st_stream(p, u);
}

// accumulate (hd.h) of every lane of u into the cells from p (16-byte aligned for a vector): one
// vector atomic for float vectors where the architecture has it (sm_90 and later: a quarter of
// the adjoint's atomics; H100, 2D 1000^2 x 4 full-storage gradient 111.4 -> 107.1 ms).
template <typename T, typename U>
SWEEP_HD inline void accumulate_lanes(T* p, const U& u) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if constexpr (std::is_same_v<U, Vec<float>>)
    atomicAdd(reinterpret_cast<float4*>(p), native(u));
  else
#endif
    for (int i = 0; i < lanes<T, U>(); ++i) accumulate(p + i, lane<T>(u, i));
}
// Of the lanes in m only.
template <typename T, typename U>
SWEEP_HD inline void accumulate_lanes(T* p, const U& u, LaneMask m) {
  if (m == kAllLanes) return accumulate_lanes(p, u);
  for (int i = 0; i < lanes<T, U>(); ++i)
    if (has_lane(m, i)) accumulate(p + i, lane<T>(u, i));
}

}  // namespace sweep
