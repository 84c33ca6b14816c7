// CPU (XLA FFI, platform "cpu") chunk kernels for the constant-density acoustic equation.
//
// One call advances every shot of the batch by up to K steps (the runtime `nsteps` operand says
// how many), injecting the source and recording receivers inside the call:
//   sweep_acoustic_forward       state -> state, records
//   sweep_acoustic_forward_save  the same, also the per-step stencil sums W needed by the adjoint
//   sweep_acoustic_forward_store the same, W written into steps w0.. of a stack filled in place
//   sweep_acoustic_adjoint       adjoint state -> adjoint state, dJ/d(amp) of the chunk, and its
//                                dJ/dV added into the given sum
//   ..._scratch                  each with its scratch buffers handed in (acoustic_bindings.h;
//                                here they are cleared all the same)
// Record t of a chunk is the field after its step t; the adjoint walks the chunk backwards.
#include <algorithm>
#include <cstring>
#include <unistd.h>
#include <string>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "acoustic/acoustic_bindings.h"
#include "acoustic/acoustic_layout.h"
#include "acoustic/acoustic_rows.h"
#include "common/batch.h"
#include "common/grid.h"
#include "common/stencil.h"
#include "xla/ffi/api/ffi.h"

namespace sweep::acoustic {
namespace {

namespace ffi = xla::ffi;

// Odd mirror image of the field above the free surface (the surface row itself stays zero).
template <typename T>
void mirror_top(const Grid& g, T* u) {
  const int64_t plane = g.ax[0].stride;
  const int64_t s0 = g.half;
  for (int m = 1; m <= g.half; ++m) {
    T* dst = u + (s0 - m) * plane;
    const T* src = u + (s0 + m) * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = -src[i];
  }
}

struct Rows {
  int64_t nz, ny;
  explicit Rows(const Grid& g)
      : nz(g.ax[0].end - g.ax[0].begin), ny(g.ax[1].end - g.ax[1].begin) {}
  int64_t count() const { return nz * ny; }
  void coord(const Grid& g, int64_t r, int64_t c[3]) const {
    c[0] = g.ax[0].begin + r / ny;
    c[1] = g.ax[1].begin + r % ny;
    c[2] = 0;
  }
};

// Per-shot operands of a forward chunk.
template <typename T>
struct ForwardShot {
  const T* V;
  const T* prof;
  const T* amp;   // (K) source term already scaled: dt^2 s / dh^ndim
  int64_t src;
  const int64_t* rec;
  T* p;           // current field (in/out)
  T* pp;          // previous field (in/out)
  T* psi;         // (ndim, cells) in/out
  T* psi_tmp;     // (ndim, cells) scratch
  T* zeta;        // (ndim, cells) in/out
  T* recs;        // (K, nrec)
  T* W;           // (K, wcells): the call's steps of W, or null
};

// Steps per pass of the wavefront: as many as keep its planes (about (steps + 1) * half planes
// of the fields a step touches) inside this core's L2 cache.
inline int64_t steps_per_pass(const Grid& g, size_t elem) {
  long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 <= 0) l2 = 512 * 1024;
  const double plane = double(g.ax[0].stride) * elem * 6;  // p, p_prev, V, psi x2, zeta
  const int64_t n = int64_t(double(l2) / (plane * g.half)) - 1;
  return std::clamp<int64_t>(n, 1, 16);
}

// Advance one shot by L steps. Temporal blocking: a pass sweeps the z planes once and advances
// up to S steps, step k+1 trailing step k by `half` planes. With the leapfrog ping-pong this is
// exact: step k+1 may overwrite plane z of the older field once step k has finished plane z+half,
// the last plane that reads it. The same holds for the psi pair; zeta is updated in place.
template <typename T, int H>
void forward_chunk(const Grid& g, const Stencil<T, H>& k, ForwardShot<T> a, int64_t nrec,
                   int64_t K, int64_t L, bool physical_only) {
  const int64_t cells = g.cells;
  std::fill(a.psi_tmp, a.psi_tmp + g.ndim * cells, T(0));
  if (a.W) std::fill(a.W, a.W + K * g.wcells, T(0));
  std::fill(a.recs, a.recs + K * nrec, T(0));
  // The forward's PML terms reach half cells past the PML (Box::of): its fused box is wider.
  const StepCtx<T, H> f{g, k, a.V, a.prof, RowSplit::of(g, g.half)};
  T* field[2] = {a.p, a.pp};  // field[t % 2] holds the field at step t
  T* psis[2] = {a.psi, a.psi_tmp};
  const Axis& Z = g.ax[0];
  int64_t lo[3], hi[3];  // the updated cells
  g.update_range(physical_only, lo, hi);
  // Receivers grouped by z plane; the source's plane.
  std::vector<std::vector<int64_t>> recs_on(Z.size);
  for (int64_t r = 0; r < nrec; ++r) recs_on[a.rec[r] / Z.stride].push_back(r);
  const int64_t src_z = a.src / Z.stride;
  std::vector<T> acc_buf(g.ax[2].size);
  T* acc = acc_buf.data();
  const int64_t S = steps_per_pass(g, sizeof(T));
  for (int64_t t0 = 0; t0 < L; t0 += S) {
    const int64_t nb = std::min(S, L - t0);
    for (int64_t lead = lo[0]; lead < hi[0] + (nb - 1) * g.half; ++lead) {
      for (int64_t kk = 0; kk < nb; ++kk) {
        const int64_t z = lead - kk * g.half;
        if (z < lo[0] || z >= hi[0]) continue;
        const int64_t t = t0 + kk;
        T* p = field[t % 2];
        T* pp = field[(t + 1) % 2];
        if (g.free_surface && z == Z.begin) mirror_top(g, p);
        T* Wt = a.W ? a.W + t * g.wcells : nullptr;
        for (int64_t y = lo[1]; y < hi[1]; ++y) {
          const int64_t c[3] = {z, y, 0};
          forward_row<T, H>(f, c, lo[2], hi[2], p, pp, psis[t % 2], psis[(t + 1) % 2], a.zeta,
                            Wt, acc);
        }
        // pp now holds plane z of the field at step t + 1.
        if (z == src_z) pp[a.src] += a.amp[t];
        for (int64_t r : recs_on[z]) a.recs[t * nrec + r] = pp[a.rec[r]];
      }
    }
  }
  // Leave the current field in a.p and psi in a.psi whatever the parity of L.
  if (L % 2) {
    std::swap_ranges(a.p, a.p + cells, a.pp);
    std::copy(a.psi_tmp, a.psi_tmp + g.ndim * cells, a.psi);
  }
}

// Per-shot operands of an adjoint chunk. X is the adjoint of the current field, Y that of the
// next one (a leapfrog in reverse time, like the forward), both scaled by V; gV sums V dJ/dV
// (acoustic_rows.h).
template <typename T>
struct AdjointShot {
  const T* V;
  const T* prof;
  const T* W;      // (K, wcells): the call's steps of W
  const T* rbar;   // (K, nrec)
  int64_t src;
  const int64_t* rec;
  T* X;
  T* Y;
  T* psi;
  T* psi_tmp;
  T* zeta;
  T* zeta_tmp;
  T* gV;           // (cells), accumulated
  T* gamp;         // (K)
};

template <typename T, int H>
void adjoint_chunk(const Grid& g, const Stencil<T, H>& k, AdjointShot<T> a, int64_t nrec,
                   int64_t K, int64_t L) {
  const int64_t cells = g.cells;
  std::fill(a.psi_tmp, a.psi_tmp + g.ndim * cells, T(0));
  std::fill(a.zeta_tmp, a.zeta_tmp + g.ndim * cells, T(0));
  std::fill(a.gamp, a.gamp + K, T(0));
  T* X = a.X;
  T* Y = a.Y;
  T* psi = a.psi;
  T* psi_n = a.psi_tmp;
  T* zeta = a.zeta;
  T* zeta_n = a.zeta_tmp;
  const Rows rows(g);
  const StepCtx<T, H> f{g, k, a.V, a.prof, RowSplit::of(g)};
#pragma omp parallel
  {
    std::vector<T> acc_buf(g.ax[2].size);
    T* acc = acc_buf.data();
    for (int64_t t = L - 1; t >= 0; --t) {
#pragma omp single
      {
        // X = V lambda (acoustic_rows.h)
        for (int64_t r = 0; r < nrec; ++r) X[a.rec[r]] += a.V[a.rec[r]] * a.rbar[t * nrec + r];
        a.gamp[t] = X[a.src] / a.V[a.src];
        if (g.free_surface) mirror_top(g, X);
      }
      const T* Wt = a.W + t * g.wcells;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows.count(); ++r) {
        int64_t c[3];
        rows.coord(g, r, c);
        adjoint_row<T, H>(f, c, g.ax[2].begin, g.ax[2].end, X, Y, psi, psi_n, zeta, zeta_n, Wt, a.gV,
                          acc);
      }
#pragma omp single
      {
        std::swap(X, Y);
        std::swap(psi, psi_n);
        std::swap(zeta, zeta_n);
      }
    }
  }
  if (X != a.X) std::swap_ranges(a.X, a.X + cells, a.Y);
  if (psi != a.psi) std::copy(psi, psi + g.ndim * cells, a.psi);
  if (zeta != a.zeta) std::copy(zeta, zeta + g.ndim * cells, a.zeta);
}

// ---------------------------------------------------------------------------------------------
// Host memory: the index operands can be read here (the CUDA handlers read them on the device).
struct HostIndices {
  std::vector<int64_t> src, rec;
  int64_t L = 0;   // steps to run
  int64_t w0 = 0;  // the call's first step in W
};

// `w0`: the operand, or null (W's steps start at 0); the call's K steps must lie in W's.
ffi::Error read_host_indices(const Layout& c, ffi::AnyBuffer src, ffi::AnyBuffer rec,
                             ffi::AnyBuffer nsteps, const ffi::AnyBuffer* w0, HostIndices& h) {
  std::string err;
  std::vector<int64_t> n, w;
  if (!read_indices(src, h.src, err, "src") || !read_indices(rec, h.rec, err, "rec") ||
      !read_indices(nsteps, n, err, "nsteps") || (w0 && !read_indices(*w0, w, err, "w0")))
    return ffi::Error::InvalidArgument(err);
  if (n.empty()) return ffi::Error::InvalidArgument("nsteps: empty");
  h.L = std::min<int64_t>(std::max<int64_t>(n[0], 0), c.K);
  for (int64_t s : h.src)
    if (s < 0 || s >= c.grid.cells) return ffi::Error::InvalidArgument("src index out of range");
  for (int64_t s : h.rec)
    if (s < 0 || s >= c.grid.cells) return ffi::Error::InvalidArgument("rec index out of range");
  if (!w0) return ffi::Error::Success();
  if (w.size() != 1) return ffi::Error::InvalidArgument("w0: expected a scalar");
  h.w0 = w[0];
  if (h.w0 < 0 || h.w0 + c.K > c.wsteps)
    return ffi::Error::InvalidArgument("w0: steps " + std::to_string(h.w0) + " .. " +
                                       std::to_string(h.w0 + c.K - 1) + " lie outside W's " +
                                       std::to_string(c.wsteps) + " steps");
  return ffi::Error::Success();
}

// A state given to an odd chunk (the _scratch targets) arrives where the CUDA kernels start
// one: the two fields crossed over the outputs, psi (and the adjoint's zeta) in the scratch
// buffers. The CPU kernels start from the first buffers: swap the fields back and move the
// others out of the scratch. Returns false (nothing done) for a state not given that way.
template <typename T>
bool uncross(const ffi::AnyBuffer (&in)[4], T* const (&out)[4], T* psi_t, T* zeta_t, int64_t n,
             int64_t nd) {
  const auto at = [&](int i) { return static_cast<const T*>(in[i].untyped_data()); };
  if (at(0) != out[1] || at(1) != out[0]) return false;
  std::swap_ranges(out[0], out[0] + n, out[1]);
  if (at(2) == psi_t) std::copy(psi_t, psi_t + nd * n, out[2]);
  if (zeta_t && at(3) == zeta_t) std::copy(zeta_t, zeta_t + nd * n, out[3]);
  return true;
}

// The backend's kernels as the shared entry points (acoustic_bindings.h) call them.
struct CpuKernels {
  template <typename T>
  static ffi::Error forward(const ForwardArgs& a) {
    ForwardLayout c;
    HostIndices hi;
    if (auto e = parse(a, c); e.failure()) return e;
    if (auto e = read_host_indices(c, a.src, a.rec, a.nsteps, a.w0, hi); e.failure()) return e;
    const int64_t cells = c.grid.cells, nd = a.cfg.ndim;
    T* P = data<T>(a.p_o);
    T* PP = data<T>(a.pp_o);
    T* PSI = data<T>(a.psi_o);
    T* ZETA = data<T>(a.zeta_o);
    if (!uncross<T>({a.p, a.pp, a.psi, a.zeta}, {P, PP, PSI, ZETA}, data<T>(a.psi_t), nullptr, c.nshot * cells, nd))
      if (auto e = copy_state<T>(c, nd, {a.p, a.pp, a.psi, a.zeta}, {P, PP, PSI, ZETA}, std::memcpy);
          e.failure())
        return e;
    T* W = a.W_o ? data<T>(a.W_o) : nullptr;
    return dispatch_order(a.cfg.order, [&](auto h) {
      constexpr int H = decltype(h)::value;
      const auto k = Stencil<T, H>::load(data<T>(a.coef));
      // Shots in parallel, each advanced by a cache-blocked wavefront.
#pragma omp parallel for schedule(dynamic, 1)
      for (int64_t s = 0; s < c.nshot; ++s) {
        ForwardShot<T> f{data<T>(a.V) + c.V.offset(s),
                         data<T>(a.prof) + c.prof.offset(s),
                         data<T>(a.amp) + c.amp.offset(s),
                         hi.src[c.src.offset(s)],
                         hi.rec.data() + c.rec.offset(s),
                         P + s * cells,
                         PP + s * cells,
                         PSI + s * nd * cells,
                         data<T>(a.psi_t) + s * nd * cells,
                         ZETA + s * nd * cells,
                         data<T>(a.recs_o) + s * c.K * c.nrec,
                         W ? W + (s * c.wsteps + hi.w0) * c.grid.wcells : nullptr};
        forward_chunk<T, H>(c.grid, k, f, c.nrec, c.K, hi.L, a.physical_only);
      }
      return ffi::Error::Success();
    });
  }

  template <typename T>
  static ffi::Error adjoint(const AdjointArgs& a) {
    AdjointLayout c;
    HostIndices hi;
    if (auto e = parse(a, c); e.failure()) return e;
    if (auto e = read_host_indices(c, a.src, a.rec, a.nsteps, &a.w0, hi); e.failure()) return e;
    const int64_t cells = c.grid.cells, nd = a.cfg.ndim;
    T* XO = data<T>(a.X_o);
    T* YO = data<T>(a.Y_o);
    T* PSI = data<T>(a.psi_o);
    T* ZETA = data<T>(a.zeta_o);
    if (!uncross<T>({a.X, a.Y, a.psi, a.zeta}, {XO, YO, PSI, ZETA}, data<T>(a.psi_t), data<T>(a.zeta_t), c.nshot * cells, nd))
      if (auto e = copy_state<T>(c, nd, {a.X, a.Y, a.psi, a.zeta}, {XO, YO, PSI, ZETA}, std::memcpy);
          e.failure())
        return e;
    T* gV = data<T>(a.gV_o);  // the sum to add to
    return dispatch_order(a.cfg.order, [&](auto h) {
      constexpr int H = decltype(h)::value;
      const auto k = Stencil<T, H>::load(data<T>(a.coef));
      for (int64_t s = 0; s < c.nshot; ++s) {
        AdjointShot<T> b{data<T>(a.V) + c.V.offset(s),
                         data<T>(a.prof) + c.prof.offset(s),
                         data<T>(a.W) + c.W.offset(s) + hi.w0 * c.grid.wcells,
                         data<T>(a.rbar) + c.rbar.offset(s),
                         hi.src[c.src.offset(s)],
                         hi.rec.data() + c.rec.offset(s),
                         XO + s * cells,
                         YO + s * cells,
                         PSI + s * nd * cells,
                         data<T>(a.psi_t) + s * nd * cells,
                         ZETA + s * nd * cells,
                         data<T>(a.zeta_t) + s * nd * cells,
                         gV + c.gV.offset(s),
                         data<T>(a.gamp_o) + s * c.K};
        adjoint_chunk<T, H>(c.grid, k, b, c.nrec, c.K, hi.L);
      }
      return ffi::Error::Success();
    });
  }
};

using CpuEntry = Entry<CpuKernels>;

}  // namespace
}  // namespace sweep::acoustic

SWEEP_ACOUSTIC_HANDLERS(Cpu, sweep::acoustic::CpuEntry, )
