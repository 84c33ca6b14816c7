// One row (fixed z, y; all x) of the constant-density acoustic step and of its exact adjoint.
//
// Forward, per axis i (c, d, e: the axis's CPML profiles, e = D1 c; V = v^2 dt^2):
//   g = D1 p,  h = D2 p
//   L = (1 + c) h + e g + D1(d psi)          (psi at the previous step)
//   zeta' = d zeta + c L,   psi' = d psi + c g
//   p_next = 2 p - p_prev + V * sum_i (L + zeta')
// Outside the PML bands c = e = psi = zeta = 0 and the axis term is just h.
// The adjoint rows below are the transpose of exactly these operations (see docs/physics.md),
// on the adjoint fields scaled by V: X = V lambda, lambda the cotangent of the field. Every
// transposed term reads V lambda, so the stencils read X alone (as the forward's read p) and
// V enters once per cell, in the update Y <- 2 X - Y + V acc; the receivers' cotangents enter as
// V rbar, and dJ/dV accumulates X W, which is V dJ/dV (the caller converts at the backward's
// ends: propagator/chunked.py). Against V X at every neighbour, the CUDA adjoint loads half the
// values (H100, full-storage gradients beside the vector atomics and W's streaming accesses
// (lanes.h), 2026-11-24: 2D 1000^2 x 4 103.5 -> 95.0 ms, 3D 200^3 256 -> 236.5 ms).
#pragma once

#include <cstdint>
#include <type_traits>

#include "common/grid.h"
#include "common/lanes.h"
#include "common/stencil.h"

namespace sweep::acoustic {

// CPML profiles of one axis, indexed by storage cell along that axis.
template <typename T>
struct AxisProfiles {
  const T* c;
  const T* d;
  const T* e;
};

// An axis's plain term (no PML) of the cells [x0, x1) of a row: D2 along the axis, forward (of p)
// and adjoint (of X: D2 is symmetric).
template <typename T, int H>
SWEEP_HD inline void plain_terms(const Stencil<T, H>& k, const T* p, int64_t s, T* acc, int64_t base,
                          int64_t x0, int64_t x1) {
  for (int64_t x = x0; x < x1; ++x) acc[x] += d2_at(k, p + base + x, s);
}

// An axis's PML term at one cell from its neighbours along the axis: pv(m) the field and
// dpsi(m) = d psi at the cell m away (|m| <= H), of type U; ci, ei, d0: the cell's profiles.
// Returns L + zeta' and sets zeta' and psi'.
template <typename T, int H, typename U, typename P, typename DPsi>
SWEEP_HD inline U pml_forward_sum(const Stencil<T, H>& k, P&& pv, DPsi&& dpsi_at, T ci, T ei, T d0,
                                  const U& zeta, U& zeta_next, U& psi_next) {
  U h2 = k.d2[0] * pv(0);
  U g1{}, dpsi{};
  for (int m = 1; m <= H; ++m) {
    const U up = pv(m), um = pv(-m);
    h2 += k.d2[m] * (up + um);
    g1 += k.d1[m] * (up - um);
    dpsi += k.d1[m] * (dpsi_at(m) - dpsi_at(-m));
  }
  const U L = (1 + ci) * h2 + ei * g1 + dpsi;
  zeta_next = d0 * zeta + ci * L;
  psi_next = dpsi_at(0) + ci * g1;
  return L + zeta_next;
}

// pml_forward_cell along x on the vector of cells at the aligned j: each cell's own profiles,
// its x neighbours from the aligned vectors beside it (XWindow).
template <typename T, int H>
SWEEP_HD inline Vec<T> pml_forward_x(const Stencil<T, H>& k, const T* __restrict p,
                                     const T* __restrict psi, T* __restrict psi_next,
                                     T* __restrict zeta, int64_t j, const T* cc, const T* ec,
                                     const T* dc, LaneMask lm) {
  using U = Vec<T>;
  auto load_p = [&](int64_t q) { return ld<U>(p, q); };
  auto load_dpsi = [&](int64_t q) {
    U u = ld<U>(psi, q);
    for (int i = 0; i < U::n; ++i) u.v[i] = dc[q - j + i] * u.v[i];
    return u;
  };
  const XWindow<T, H, U> pw(j, load_p(j), load_p), sw(j, load_dpsi(j), load_dpsi);
  const U z = ld<U>(zeta, j);
  U r, zn, pn;
  for (int i = 0; i < U::n; ++i) {
    const T *pc = pw.at(i), *sc = sw.at(i);
    r.v[i] = pml_forward_sum<T, H, T>(
        k, [&](int m) { return pc[m]; }, [&](int m) { return sc[m]; }, cc[i], ec[i], dc[i],
        z.v[i], zn.v[i], pn.v[i]);
  }
  st(zeta, j, zn, lm);
  st(psi_next, j, pn, lm);
  return r;
}

// One cell j of an axis's PML term (stride s): returns L + zeta' and updates zeta and psi_next
// at j. cc, ec, dc: the c, e and d profiles centred on the cell (dc[m] for |m| <= H). U: T, or
// the vector of cells j .. j + n - 1 (lanes.h): along x each with its own profiles, on an outer
// axis sharing the row's. A vector stores the lanes in lm only (lanes_inside).
template <typename T, int H, typename U = T>
SWEEP_HD inline U pml_forward_cell(const Stencil<T, H>& k, const T* __restrict p,
                                   const T* __restrict psi, T* __restrict psi_next,
                                   T* __restrict zeta, int64_t j, int64_t s, const T* cc,
                                   const T* ec, const T* dc, LaneMask lm = kAllLanes) {
  if constexpr (!std::is_same_v<U, T>) {
    if (s == 1) return pml_forward_x<T, H>(k, p, psi, psi_next, zeta, j, cc, ec, dc, lm);
  }
  U zn, pn;
  const U r = pml_forward_sum<T, H, U>(
      k, [&](int m) { return ld<U>(p, j + m * s); },
      [&](int m) { return dc[m] * ld<U>(psi, j + m * s); }, cc[0], ec[0], dc[0], ld<U>(zeta, j),
      zn, pn);
  st(zeta, j, zn, lm);
  st(psi_next, j, pn, lm);
  return r;
}

// INNER: the axis is x (profiles vary along the row); else the row sits at `idx` along the axis
// and its profile values are constants of the loop (hoisted so the loop vectorizes).
template <typename T, int H, bool INNER>
SWEEP_HD inline void pml_forward(const Stencil<T, H>& k, AxisProfiles<T> pr, int64_t idx, int64_t s,
                        const T* __restrict p, const T* __restrict psi, T* __restrict psi_next,
                        T* __restrict zeta, T* __restrict acc, int64_t base, int64_t x0,
                        int64_t x1) {
  const T* __restrict c = pr.c;
  const T* __restrict d = pr.d;
  const T* __restrict e = pr.e;
  T dn[2 * H + 1];  // d at idx + m, outer axes only
  for (int m = -H; m <= H; ++m) dn[m + H] = INNER ? T(0) : d[idx + m];
  const T c0 = INNER ? T(0) : c[idx], e0 = INNER ? T(0) : e[idx];
SWEEP_IVDEP
  for (int64_t x = x0; x < x1; ++x)
    acc[x] += pml_forward_cell<T, H>(k, p, psi, psi_next, zeta, base + x, s, INNER ? c + x : &c0,
                                     INNER ? e + x : &e0, INNER ? d + x : dn + H);
}

// The fused update's stencil sum at cell j of u (p forward, X adjoint): D2 along every axis, x
// and the outer strides s0 (and s1 where nouter > 1); c0 = d2[0] times the axis count.
template <typename T, int H>
SWEEP_HD inline T interior_sum(const Stencil<T, H>& k, const T* __restrict u, int64_t j,
                               int64_t s0, int64_t s1, int nouter, T c0) {
  T a = c0 * u[j];
  for (int m = 1; m <= H; ++m) {
    a += k.d2[m] * ((u[j + m] + u[j - m]) + (u[j + m * s0] + u[j - m * s0]));
    if (nouter > 1) a += k.d2[m] * (u[j + m * s1] + u[j - m * s1]);
  }
  return a;
}

// Rows outside every outer-axis band, cells in [x0, x1) outside the x band: the whole update
// in one pass (the bulk of the grid). Cell x of the row is base + x in the fields and wbase + x
// in W (Grid::w_index), which may be null.
template <typename T, int H>
SWEEP_HD inline void interior_forward(const Stencil<T, H>& k, const int64_t* strides, int nouter,
                             const T* __restrict p, T* __restrict pp, const T* __restrict V,
                             T* __restrict W, int64_t base, int64_t wbase, int64_t x0, int64_t x1) {
  const int64_t s0 = strides[0], s1 = nouter > 1 ? strides[1] : 0;
  const T c0 = k.d2[0] * T(nouter + 1);
SWEEP_IVDEP
  for (int64_t x = x0; x < x1; ++x) {
    const int64_t j = base + x;
    const T a = interior_sum(k, p, j, s0, s1, nouter, c0);
    pp[j] = 2 * p[j] - pp[j] + V[j] * a;
    if (W) W[wbase + x] = a;
  }
}

// The fused update for n <= RZ rows of one column along the first outer axis (z), from cell j0,
// each row's cells a value of type U (T: one cell; Vec<T>: the vector of cells from the aligned
// j0 along x): u = load(q) is the field the stencil reads, and finish(r, j, u_j, a) the update of
// the column's row r (index j) from its sums a. The column's z neighbours are loaded once for
// all n rows, and a vector's x neighbours from the aligned vectors beside it (the CUDA interior
// kernels). Each cell's sum in interior_forward's / interior_adjoint's order.
template <typename T, int H, int RZ, typename U, typename Load, typename Finish>
SWEEP_HD inline void interior_column(const Stencil<T, H>& k, const int64_t* strides, int nouter,
                                     int64_t j0, int n, Load&& load, Finish&& finish) {
  constexpr int N = lanes<T, U>();
  const int64_t s0 = strides[0], s1 = nouter > 1 ? strides[1] : 0;
  const T c0 = k.d2[0] * T(nouter + 1);
  U col[RZ + 2 * H];  // z - H .. z + RZ - 1 + H
  for (int i = 0; i < RZ + 2 * H; ++i) col[i] = i < n + 2 * H ? load(j0 + (i - H) * s0) : U{};
  for (int r = 0; r < RZ; ++r) {
    if (r >= n) break;
    const int64_t j = j0 + r * s0;
    const XWindow<T, H, U> x(j, col[r + H], load);  // the row's x neighbours
    U a;
    for (int i = 0; i < N; ++i) lane<T>(a, i) = c0 * x.at(i)[0];
    for (int m = 1; m <= H; ++m) {
      for (int i = 0; i < N; ++i)
        lane<T>(a, i) += k.d2[m] * ((x.at(i)[m] + x.at(i)[-m]) +
                                    (lane<T>(col[r + H + m], i) + lane<T>(col[r + H - m], i)));
      if (nouter > 1) {
        const U yp = load(j + m * s1), ym = load(j - m * s1);
        for (int i = 0; i < N; ++i) lane<T>(a, i) += k.d2[m] * (lane<T>(yp, i) + lane<T>(ym, i));
      }
    }
    finish(r, j, col[r + H], a);
  }
}

// W: the column's first cell in W (or null; a vector's need not be aligned), wz: W's z stride.
template <typename T, int H, int RZ, typename U = T>
SWEEP_HD inline void interior_forward_column(const Stencil<T, H>& k, const int64_t* strides,
                                             int nouter, const T* __restrict p, T* __restrict pp,
                                             const T* __restrict V, T* __restrict W, int64_t wz,
                                             int64_t j0, int n) {
  interior_column<T, H, RZ, U>(
      k, strides, nouter, j0, n, [&](int64_t q) { return ld<U>(p, q); },
      [&](int r, int64_t j, const U& u, const U& a) {
        st(pp, j, T(2) * u - ld<U>(pp, j) + ld<U>(V, j) * a);
        if (W) st_stream(W + r * wz, a);
      });
}

template <typename T, int H, int RZ, typename U = T>
SWEEP_HD inline void interior_adjoint_column(const Stencil<T, H>& k, const int64_t* strides,
                                             int nouter, const T* __restrict V,
                                             const T* __restrict X, T* __restrict Y,
                                             const T* __restrict W, int64_t wz, T* __restrict gV,
                                             int64_t j0, int n) {
  interior_column<T, H, RZ, U>(
      k, strides, nouter, j0, n, [&](int64_t q) { return ld<U>(X, q); },
      [&](int r, int64_t j, const U& x, const U& a) {
        accumulate_lanes(gV + j, x * ld_stream<U>(W + r * wz));
        st(Y, j, T(2) * x - ld<U>(Y, j) + ld<U>(V, j) * a);
      });
}

// Adjoint of pml_forward. With X = V lambda and l = (1 + c) X + c Z (the adjoint of L):
//   acc   += D2^T((1 + c) l) + D1^T(e l + c Psi)
//   Psi'   = d (Psi + D1^T l),   Z' = d (Z + X)          (D1^T = -D1, D2^T = D2)
// l at one cell from its c, X and Z.
template <typename T, typename U>
SWEEP_HD inline U adjoint_l(T c, const U& x, const U& z) {
  return (1 + c) * x + c * z;
}

// One cell's acc term from its neighbours along the axis: lf(m) and psif(m), l and Psi at the
// cell m away (|m| <= H), of type U; cc, ec: the c and e profiles centred on the cell, d0 its d,
// x and zeta its X and Z. Sets Psi' and Z'.
template <typename T, int H, typename U, typename L, typename Psi>
SWEEP_HD inline U pml_adjoint_sum(const Stencil<T, H>& k, L&& lf, Psi&& psif, const T* cc,
                                  const T* ec, T d0, const U& x, const U& zeta, U& psi_next,
                                  U& zeta_next) {
  U r = k.d2[0] * (1 + cc[0]) * lf(0);
  U dl{};
  for (int m = 1; m <= H; ++m) {
    const T cp = cc[m], cm = cc[-m], ep = ec[m], em = ec[-m];
    const U lp = lf(m), lm = lf(-m);
    r += k.d2[m] * ((1 + cp) * lp + (1 + cm) * lm);
    r -= k.d1[m] * ((ep * lp + cp * psif(m)) - (em * lm + cm * psif(-m)));
    dl += k.d1[m] * (lp - lm);
  }
  psi_next = d0 * (psif(0) - dl);
  zeta_next = d0 * (zeta + x);
  return r;
}

// pml_adjoint_cell along x on the vector of cells at the aligned j, as pml_forward_x.
template <typename T, int H>
SWEEP_HD inline Vec<T> pml_adjoint_x(const Stencil<T, H>& k, const T* __restrict X,
                                     const T* __restrict psi,
                                     T* __restrict psi_next, const T* __restrict zeta,
                                     T* __restrict zeta_next, int64_t j, const T* cc,
                                     const T* ec, const T* dc, LaneMask lm) {
  using U = Vec<T>;
  auto load_l = [&](int64_t q) {
    const U x = ld<U>(X, q), z = ld<U>(zeta, q);
    U l;
    for (int i = 0; i < U::n; ++i) l.v[i] = adjoint_l<T, T>(cc[q - j + i], x.v[i], z.v[i]);
    return l;
  };
  auto load_psi = [&](int64_t q) { return ld<U>(psi, q); };
  const XWindow<T, H, U> lw(j, load_l(j), load_l), sw(j, load_psi(j), load_psi);
  const U x = ld<U>(X, j), z = ld<U>(zeta, j);
  U r, pn, zn;
  for (int i = 0; i < U::n; ++i) {
    const T *lc = lw.at(i), *sc = sw.at(i);
    r.v[i] = pml_adjoint_sum<T, H, T>(
        k, [&](int m) { return lc[m]; }, [&](int m) { return sc[m]; }, cc + i, ec + i, dc[i],
        x.v[i], z.v[i], pn.v[i], zn.v[i]);
  }
  st(psi_next, j, pn, lm);
  st(zeta_next, j, zn, lm);
  return r;
}

// One cell j (stride s): returns its acc term and updates psi_next and zeta_next at j. cc, ec,
// dc: the profiles centred on the cell. U and lm: as in pml_forward_cell.
template <typename T, int H, typename U = T>
SWEEP_HD inline U pml_adjoint_cell(const Stencil<T, H>& k, const T* __restrict X,
                                   const T* __restrict psi,
                                   T* __restrict psi_next, const T* __restrict zeta,
                                   T* __restrict zeta_next, int64_t j, int64_t s, const T* cc,
                                   const T* ec, const T* dc, LaneMask lm = kAllLanes) {
  if constexpr (!std::is_same_v<U, T>) {
    if (s == 1)
      return pml_adjoint_x<T, H>(k, X, psi, psi_next, zeta, zeta_next, j, cc, ec, dc, lm);
  }
  U pn, zn;
  const U r = pml_adjoint_sum<T, H, U>(
      k,
      [&](int m) {
        const int64_t q = j + m * s;
        return adjoint_l<T, U>(cc[m], ld<U>(X, q), ld<U>(zeta, q));
      },
      [&](int m) { return ld<U>(psi, j + m * s); }, cc, ec, dc[0], ld<U>(X, j), ld<U>(zeta, j), pn,
      zn);
  st(psi_next, j, pn, lm);
  st(zeta_next, j, zn, lm);
  return r;
}

template <typename T, int H, bool INNER>
SWEEP_HD inline void pml_adjoint(const Stencil<T, H>& k, AxisProfiles<T> pr, int64_t idx, int64_t s,
                        const T* __restrict X, const T* __restrict psi,
                        T* __restrict psi_next, const T* __restrict zeta,
                        T* __restrict zeta_next, T* __restrict acc, int64_t base, int64_t x0,
                        int64_t x1) {
  const T* __restrict c = pr.c;
  const T* __restrict d = pr.d;
  const T* __restrict e = pr.e;
  T cn[2 * H + 1], en[2 * H + 1];  // profiles at idx + m, outer axes only
  for (int m = -H; m <= H; ++m) {
    cn[m + H] = INNER ? T(0) : c[idx + m];
    en[m + H] = INNER ? T(0) : e[idx + m];
  }
  const T d0 = INNER ? T(0) : d[idx];
SWEEP_IVDEP
  for (int64_t x = x0; x < x1; ++x)
    acc[x] += pml_adjoint_cell<T, H>(k, X, psi, psi_next, zeta, zeta_next, base + x, s,
                                     INNER ? c + x : cn + H, INNER ? e + x : en + H,
                                     INNER ? d + x : &d0);
}

// Adjoint counterpart of interior_forward (also accumulates V dJ/dV += X W).
template <typename T, int H>
SWEEP_HD inline void interior_adjoint(const Stencil<T, H>& k, const int64_t* strides, int nouter,
                             const T* __restrict V, const T* __restrict X, T* __restrict Y,
                             const T* __restrict W, T* __restrict gV, int64_t base, int64_t wbase,
                             int64_t x0, int64_t x1) {
  const int64_t s0 = strides[0], s1 = nouter > 1 ? strides[1] : 0;
  const T c0 = k.d2[0] * T(nouter + 1);
SWEEP_IVDEP
  for (int64_t x = x0; x < x1; ++x) {
    const int64_t j = base + x;
    const T a = interior_sum(k, X, j, s0, s1, nouter, c0);
    accumulate(&gV[j], X[j] * W[wbase + x]);
    Y[j] = 2 * X[j] - Y[j] + V[j] * a;
  }
}


// Profiles of all active axes: (ndim, 3, smax), rows c, d, e.
template <typename T>
SWEEP_HD AxisProfiles<T> axis_profiles(const T* prof, const Grid& g, int a) {
  const T* base = prof + int64_t(g.ax[a].slot) * 3 * g.smax;
  return {base, base + g.smax, base + 2 * g.smax};
}

// The interior box: cells where no PML term reaches along any axis, so that a step there is the
// plain fused update. A step's PML terms reach `reach` cells past the PML: 2*half for the adjoint
// (profile derivative, then the stencil; the default, the band of Grid), half for the forward
// (e = D1 c and D1(d psi)), whose box is therefore wider.
struct Box {
  int64_t lo[3], hi[3];

  static Box of(const Grid& g, int64_t reach = -1) {
    if (reach < 0) reach = 2 * g.half;
    Box b;
    for (int a = 0; a < 3; ++a) {
      const Axis& A = g.ax[a];
      b.lo[a] = A.reach_lo(reach);
      b.hi[a] = std::max(b.lo[a], A.reach_hi(reach));
    }
    return b;
  }
  SWEEP_HD bool contains(const int64_t c[3]) const {
    for (int a = 0; a < 3; ++a)
      if (c[a] < lo[a] || c[a] >= hi[a]) return false;
    return true;
  }
  // Whether the row (c[0], c[1]) lies in the box's (z, y) range.
  SWEEP_HD bool row_inside(const int64_t c[3]) const {
    return c[0] >= lo[0] && c[0] < hi[0] && c[1] >= lo[1] && c[1] < hi[1];
  }
  SWEEP_HD int64_t rows() const { return (hi[0] - lo[0]) * (hi[1] - lo[1]); }
  SWEEP_HD bool empty() const { return rows() == 0 || hi[2] == lo[2]; }
  // The box with the x range of the whole aligned vectors of n cells in [x0, x1).
  SWEEP_HD Box x_vectors(int64_t n, int64_t x0, int64_t x1) const {
    Box b = *this;
    b.lo[2] = (x0 + n - 1) / n * n;
    b.hi[2] = std::max(b.lo[2], x1 / n * n);
    return b;
  }
};

// How rows split, derived once from the grid: the interior box, and the strides of the active
// outer axes (z, and y in 3D) that the fused update reads along.
struct RowSplit {
  Box box;
  int64_t outer_strides[2] = {0, 0};
  int nouter = 0;

  static RowSplit of(const Grid& g, int64_t reach = -1) {
    RowSplit r;
    r.box = Box::of(g, reach);
    for (int ax = 0; ax < 2; ++ax)
      if (g.ax[ax].active) r.outer_strides[r.nouter++] = g.ax[ax].stride;
    return r;
  }

  // Calls fused(lo, hi) on the part of [x0, x1) inside the box and banded(lo, hi) on the rest
  // (all of it when the row is outside the box's (z, y) range). The CPU passes whole rows, a
  // CUDA thread its one cell.
  template <typename Fused, typename Banded>
  SWEEP_HD void row(const int64_t c[3], int64_t x0, int64_t x1, Fused&& fused,
                    Banded&& banded) const {
    if (!box.row_inside(c)) {
      banded(x0, x1);
      return;
    }
    const int64_t f0 = sweep::clamp(box.lo[2], x0, x1), f1 = sweep::clamp(box.hi[2], f0, x1);
    if (f0 < f1) fused(f0, f1);
    if (x0 < f0) banded(x0, f0);
    if (f1 < x1) banded(f1, x1);
  }
};

// What a step (forward or adjoint) needs besides the fields it reads and writes.
template <typename T, int H>
struct StepCtx {
  Grid g;
  Stencil<T, H> k;
  const T* V;
  const T* prof;
  RowSplit split;
};

// The per-axis terms of cells [lo, hi) of a row outside the box, in one traversal shared by the
// forward and the adjoint: pml(inner, profiles, idx, stride, aux_offset, a, b) where the axis's
// PML formula applies (inner: std::true_type for x, whose profiles vary along the row; else the
// row's index `idx` on that axis), plain(stride, a, b) where it does not.
template <typename T, int H, typename Pml, typename Plain>
SWEEP_HD void axis_terms(const StepCtx<T, H>& f, const int64_t c[3], int64_t lo, int64_t hi,
                         Pml&& pml, Plain&& plain) {
  const Grid& g = f.g;
  for (int ax = 0; ax < 2; ++ax) {
    const Axis& A = g.ax[ax];
    if (!A.active) continue;
    if (A.in_band(c[ax]))
      pml(std::false_type{}, axis_profiles(f.prof, g, ax), c[ax], A.stride, int64_t(A.slot) * g.cells,
          lo, hi);
    else
      plain(A.stride, lo, hi);
  }
  const AxisProfiles<T> px = axis_profiles(f.prof, g, 2);
  const int64_t o = int64_t(g.ax[2].slot) * g.cells;
  const Box& b = f.split.box;
  const int64_t b0 = sweep::clamp(b.lo[2], lo, hi), b1 = sweep::clamp(b.hi[2], b0, hi);
  pml(std::true_type{}, px, 0, 1, o, lo, b0);
  plain(1, b0, b1);
  pml(std::true_type{}, px, 0, 1, o, b1, hi);
}

// The axis terms of one cell outside the box, summed as the rows' banded part sums them
// (z, y, x): pml(profiles, index, stride, aux_offset) where the axis's PML formula applies,
// plain(stride) where it does not. The CUDA frame kernels run one thread per cell, or per
// aligned vector of cells along x (U = Vec<T>). Where the rows sum a cell by the PML formula and
// this by the plain one (or the reverse: between the band and the box), the PML terms are exact
// zeros.
template <typename T, int H, typename U, typename Pml, typename Plain>
SWEEP_HD inline U cell_terms(const StepCtx<T, H>& f, const int64_t c[3], Pml&& pml, Plain&& plain) {
  const Grid& g = f.g;
  U a{};
#pragma unroll
  for (int ax = 0; ax < 3; ++ax) {
    const Axis& A = g.ax[ax];
    if (!A.active) continue;
    // a vector's cells lie along x: the PML formula for all of them where one is in the band
    // (exact for the others: their profiles, psi and zeta are zero)
    if (A.in_band(c[ax], ax == 2 ? lanes<T, U>() : 1))
      a += pml(axis_profiles(f.prof, g, ax), c[ax], A.stride, int64_t(A.slot) * g.cells);
    else
      a += plain(A.stride);
  }
  return a;
}

// forward_row's stencil sum at cell j (f.V: the shot's model), of type U (cell_terms); a vector
// stores the lanes in lm only.
template <typename T, int H, typename U = T>
SWEEP_HD inline U forward_terms_cell(const StepCtx<T, H>& f, const int64_t c[3], int64_t j,
                                     const T* p, const T* psi, T* psi_n, T* zeta,
                                     LaneMask lm = kAllLanes) {
  return cell_terms<T, H, U>(
      f, c,
      [&](AxisProfiles<T> pr, int64_t i, int64_t s, int64_t o) {
        return pml_forward_cell<T, H, U>(f.k, p, psi + o, psi_n + o, zeta + o, j, s, pr.c + i,
                                         pr.e + i, pr.d + i, lm);
      },
      [&](int64_t s) { return d2_at<T, H, U>(f.k, p + j, s); });
}

// adjoint_row's sum at cell j, of type U (cell_terms); lm as forward_terms_cell's.
template <typename T, int H, typename U = T>
SWEEP_HD inline U adjoint_terms_cell(const StepCtx<T, H>& f, const int64_t c[3], int64_t j,
                                     const T* X, const T* psi, T* psi_n, const T* zeta,
                                     T* zeta_n, LaneMask lm = kAllLanes) {
  return cell_terms<T, H, U>(
      f, c,
      [&](AxisProfiles<T> pr, int64_t i, int64_t s, int64_t o) {
        return pml_adjoint_cell<T, H, U>(f.k, X, psi + o, psi_n + o, zeta + o, zeta_n + o, j,
                                         s, pr.c + i, pr.e + i, pr.d + i, lm);
      },
      [&](int64_t s) { return d2_at<T, H, U>(f.k, X + j, s); });
}

// A frame cell's (or vector's) forward update, as forward_row's banded part makes it: out <- the
// next field (from p and the previous field pp; out is pp but in a temporally blocked pass),
// psi_n and zeta where the PML formula applies; returns the stencil sum (W's value). A vector
// stores the lanes in lm only (lanes_inside: one that straddles an end of the updated cells).
template <typename T, int H, typename U = T>
SWEEP_HD inline U forward_cell(const StepCtx<T, H>& f, const int64_t c[3], int64_t j, const T* p,
                               const T* pp, T* out, const T* psi, T* psi_n, T* zeta,
                               LaneMask lm = kAllLanes) {
  const U a = forward_terms_cell<T, H, U>(f, c, j, p, psi, psi_n, zeta, lm);
  st(out, j, T(2) * ld<U>(p, j) - ld<U>(pp, j) + ld<U>(f.V, j) * a, lm);
  return a;
}

// A frame cell's (or vector's) adjoint update, as adjoint_row's banded part makes it (but for
// dJ/dV): Y <- the adjoint of the previous field, psi_n and zeta_n where the PML formula applies;
// lm as forward_cell's.
template <typename T, int H, typename U = T>
SWEEP_HD inline void adjoint_cell(const StepCtx<T, H>& f, const int64_t c[3], int64_t j,
                                  const T* X, T* Y, const T* psi, T* psi_n, const T* zeta,
                                  T* zeta_n, LaneMask lm = kAllLanes) {
  const U a = adjoint_terms_cell<T, H, U>(f, c, j, X, psi, psi_n, zeta, zeta_n, lm);
  st(Y, j, T(2) * ld<U>(X, j) - ld<U>(Y, j) + ld<U>(f.V, j) * a, lm);
}

// Where cell x of the row c (z, y) lies in W: wbase + x.
SWEEP_HD inline int64_t w_row(const Grid& g, const int64_t c[3]) {
  const int64_t first[3] = {c[0], c[1], g.half};
  return g.w_index(first) - g.half;
}

// One row (fixed z, y) of a forward step: pp <- next field; psi_n <- next psi; zeta in place;
// Wt (the step's W, or null) <- the stencil sums.
template <typename T, int H>
SWEEP_HD void forward_row(const StepCtx<T, H>& f, const int64_t c[3], int64_t x0, int64_t x1,
                          const T* p, T* pp, const T* psi, T* psi_n, T* zeta, T* Wt, T* acc) {
  const Grid& g = f.g;
  const int64_t base = c[0] * g.ax[0].stride + c[1] * g.ax[1].stride, wbase = w_row(g, c);
  auto fused = [&](int64_t lo, int64_t hi) {
    interior_forward<T, H>(f.k, f.split.outer_strides, f.split.nouter, p, pp, f.V, Wt, base, wbase,
                           lo, hi);
  };
  auto banded = [&](int64_t lo, int64_t hi) {
    for (int64_t x = lo; x < hi; ++x) acc[x] = 0;
    axis_terms(
        f, c, lo, hi,
        [&](auto inner, AxisProfiles<T> pr, int64_t idx, int64_t s, int64_t o, int64_t a, int64_t b) {
          pml_forward<T, H, decltype(inner)::value>(f.k, pr, idx, s, p, psi + o, psi_n + o,
                                                    zeta + o, acc, base, a, b);
        },
        [&](int64_t s, int64_t a, int64_t b) { plain_terms<T, H>(f.k, p, s, acc, base, a, b); });
    const T* Vr = f.V + base;
    const T* pr = p + base;
    T* ppr = pp + base;
    for (int64_t x = lo; x < hi; ++x) ppr[x] = 2 * pr[x] - ppr[x] + Vr[x] * acc[x];
    if (Wt)
      for (int64_t x = lo; x < hi; ++x) Wt[wbase + x] = acc[x];
  };
  f.split.row(c, x0, x1, fused, banded);
}

// One row of an adjoint step: Y <- adjoint of the previous field; psi_n, zeta_n <- their
// adjoints one step back; V dJ/dV += X W.
template <typename T, int H>
SWEEP_HD void adjoint_row(const StepCtx<T, H>& f, const int64_t c[3], int64_t x0, int64_t x1,
                          const T* X, T* Y, const T* psi, T* psi_n, const T* zeta, T* zeta_n,
                          const T* Wt, T* gV, T* acc) {
  const Grid& g = f.g;
  const int64_t base = c[0] * g.ax[0].stride + c[1] * g.ax[1].stride, wbase = w_row(g, c);
  auto fused = [&](int64_t lo, int64_t hi) {
    interior_adjoint<T, H>(f.k, f.split.outer_strides, f.split.nouter, f.V, X, Y, Wt, gV, base,
                           wbase, lo, hi);
  };
  auto banded = [&](int64_t lo, int64_t hi) {
    for (int64_t x = lo; x < hi; ++x) acc[x] = 0;
    axis_terms(
        f, c, lo, hi,
        [&](auto inner, AxisProfiles<T> pr, int64_t idx, int64_t s, int64_t o, int64_t a, int64_t b) {
          pml_adjoint<T, H, decltype(inner)::value>(f.k, pr, idx, s, X, psi + o, psi_n + o,
                                                    zeta + o, zeta_n + o, acc, base, a, b);
        },
        [&](int64_t s, int64_t a, int64_t b) { plain_terms<T, H>(f.k, X, s, acc, base, a, b); });
    const T* Vr = f.V + base;
    const T* Xr = X + base;
    T* Yr = Y + base;
    T* gr = gV + base;
    for (int64_t x = lo; x < hi; ++x) {
      accumulate(&gr[x], Xr[x] * Wt[wbase + x]);
      Yr[x] = 2 * Xr[x] - Yr[x] + Vr[x] * acc[x];
    }
  };
  f.split.row(c, x0, x1, fused, banded);
}

}  // namespace sweep::acoustic
