// One row (fixed z, y; all x) of the constant-density acoustic step and of its exact adjoint.
//
// Forward, per axis i (c, d, e: the axis's CPML profiles, e = D1 c; V = v^2 dt^2):
//   g = D1 p,  h = D2 p
//   L = (1 + c) h + e g + D1(d psi)          (psi at the previous step)
//   zeta' = d zeta + c L,   psi' = d psi + c g
//   p_next = 2 p - p_prev + V * sum_i (L + zeta')
// Outside the PML bands c = e = psi = zeta = 0 and the axis term is just h.
// The adjoint rows below are the transpose of exactly these operations (see docs/physics.md).
#pragma once

#include <cstdint>

#include "common/grid.h"
#include "common/stencil.h"

namespace sweep::acoustic {

// CPML profiles of one axis, indexed by storage cell along that axis.
template <typename T>
struct AxisProfiles {
  const T* c;
  const T* d;
  const T* e;
};

template <typename T, int H>
inline void plain_forward(const Stencil<T, H>& k, const T* p, int64_t s, T* acc, int64_t base,
                          int64_t x0, int64_t x1) {
  for (int64_t x = x0; x < x1; ++x) acc[x] += d2_at(k, p + base + x, s);
}

// INNER: the axis is x (profiles vary along the row); else the row sits at `idx` along the axis.
template <typename T, int H, bool INNER>
inline void pml_forward(const Stencil<T, H>& k, AxisProfiles<T> pr, int64_t idx, int64_t s,
                        const T* p, const T* psi, T* psi_next, T* zeta, T* acc, int64_t base,
                        int64_t x0, int64_t x1) {
  for (int64_t x = x0; x < x1; ++x) {
    const int64_t j = base + x;
    const int64_t i = INNER ? x : idx;
    const T h2 = d2_at(k, p + j, s);
    const T g1 = d1_at(k, p + j, s);
    T dpsi = 0;
    for (int m = 1; m <= H; ++m)
      dpsi += k.d1[m] * (pr.d[i + m] * psi[j + m * s] - pr.d[i - m] * psi[j - m * s]);
    const T L = (1 + pr.c[i]) * h2 + pr.e[i] * g1 + dpsi;
    const T zn = pr.d[i] * zeta[j] + pr.c[i] * L;
    zeta[j] = zn;
    psi_next[j] = pr.d[i] * psi[j] + pr.c[i] * g1;
    acc[x] += L + zn;
  }
}

// Adjoint of the plain axis term: D2 is symmetric, applied to Q = V * X.
template <typename T, int H>
inline void plain_adjoint(const Stencil<T, H>& k, const T* V, const T* X, int64_t s, T* acc,
                          int64_t base, int64_t x0, int64_t x1) {
  for (int64_t x = x0; x < x1; ++x) {
    const int64_t j = base + x;
    T r = k.d2[0] * (V[j] * X[j]);
    for (int m = 1; m <= H; ++m)
      r += k.d2[m] * (V[j + m * s] * X[j + m * s] + V[j - m * s] * X[j - m * s]);
    acc[x] += r;
  }
}

// Adjoint of pml_forward. With Q = V X and l = (1 + c) Q + c Z (the adjoint of L):
//   acc   += D2^T((1 + c) l) + D1^T(e l + c Psi)
//   Psi'   = d (Psi + D1^T l),   Z' = d (Z + Q)          (D1^T = -D1, D2^T = D2)
template <typename T, int H, bool INNER>
inline void pml_adjoint(const Stencil<T, H>& k, AxisProfiles<T> pr, int64_t idx, int64_t s,
                        const T* V, const T* X, const T* psi, T* psi_next, const T* zeta,
                        T* zeta_next, T* acc, int64_t base, int64_t x0, int64_t x1) {
  for (int64_t x = x0; x < x1; ++x) {
    const int64_t j = base + x;
    const int64_t i = INNER ? x : idx;
    const T l0 = (1 + pr.c[i]) * V[j] * X[j] + pr.c[i] * zeta[j];
    T r = k.d2[0] * (1 + pr.c[i]) * l0;
    T dl = 0;
    for (int m = 1; m <= H; ++m) {
      const int64_t qp = j + m * s, qm = j - m * s;
      const int64_t ip = i + m, im = i - m;
      const T lp = (1 + pr.c[ip]) * V[qp] * X[qp] + pr.c[ip] * zeta[qp];
      const T lm = (1 + pr.c[im]) * V[qm] * X[qm] + pr.c[im] * zeta[qm];
      r += k.d2[m] * ((1 + pr.c[ip]) * lp + (1 + pr.c[im]) * lm);
      r -= k.d1[m] * ((pr.e[ip] * lp + pr.c[ip] * psi[qp]) - (pr.e[im] * lm + pr.c[im] * psi[qm]));
      dl += k.d1[m] * (lp - lm);
    }
    psi_next[j] = pr.d[i] * (psi[j] - dl);
    zeta_next[j] = pr.d[i] * (zeta[j] + V[j] * X[j]);
    acc[x] += r;
  }
}

// Splits the updated x range into [x0, m0) PML, [m0, m1) plain, [m1, x1) PML.
inline void x_split(const Axis& X, int64_t& m0, int64_t& m1) {
  m0 = X.band_lo < X.begin ? X.begin : (X.band_lo > X.end ? X.end : X.band_lo);
  m1 = X.band_hi < m0 ? m0 : (X.band_hi > X.end ? X.end : X.band_hi);
}

}  // namespace sweep::acoustic
