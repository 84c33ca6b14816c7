// CUDA (XLA FFI, platform "CUDA") chunk kernels for the constant-density acoustic equation,
// behind the same targets and operands as the CPU kernels (acoustic_cpu.cc). The per-cell work
// is the shared row code (acoustic_rows.h) run by one thread per cell, so both devices compute
// exactly the same operations. Everything runs on XLA's stream; nothing waits for the device:
// the runtime step count `nsteps` is read by the kernels, and a step past it swaps the
// ping-pong buffers' contents so that the host can alternate them blindly.
#include <cuda_runtime.h>

#include <string>

#include "acoustic/acoustic_layout.h"
#include "acoustic/acoustic_rows.h"
#include "common/batch.h"
#include "common/grid.h"
#include "common/stencil.h"
#include "xla/ffi/api/ffi.h"

namespace sweep::acoustic {
namespace {

namespace ffi = xla::ffi;

constexpr int kBlock = 128;

// An int32 or int64 index operand on the device.
struct Indices {
  const void* p = nullptr;
  bool wide = false;
  __device__ int64_t operator[](int64_t i) const {
    return wide ? static_cast<const int64_t*>(p)[i] : static_cast<const int32_t*>(p)[i];
  }
};

Indices indices(const ffi::AnyBuffer& b) {
  return {b.untyped_data(), b.element_type() == ffi::DataType::S64};
}

// What every step kernel of a call shares.
template <typename T>
struct Call {
  Grid g;
  int64_t nshot, K, nrec;
  const T* coef;
  const T* V;
  BatchMap mV;
  const T* prof;
  BatchMap mprof;
  Indices src, rec, nsteps;
  BatchMap msrc, mrec;
  RowSplit split;
};

template <typename T>
Call<T> make_call(const Layout& c, ffi::AnyBuffer coef, ffi::AnyBuffer V, ffi::AnyBuffer prof,
                  ffi::AnyBuffer src, ffi::AnyBuffer rec, ffi::AnyBuffer nsteps) {
  Call<T> k;
  k.g = c.grid;
  k.nshot = c.nshot;
  k.K = c.K;
  k.nrec = c.nrec;
  k.coef = static_cast<const T*>(coef.untyped_data());
  k.V = static_cast<const T*>(V.untyped_data());
  k.mV = c.V;
  k.prof = static_cast<const T*>(prof.untyped_data());
  k.mprof = c.prof;
  k.src = indices(src);
  k.rec = indices(rec);
  k.nsteps = indices(nsteps);
  k.msrc = c.src;
  k.mrec = c.rec;
  k.split = RowSplit::of(c.grid);
  return k;
}

// Cell of this thread: blockIdx.x covers rows x blocks of x, blockIdx.y the shot.
struct Cell {
  int64_t c[3];
  int64_t shot;
  bool valid;
};

__device__ Cell this_cell(const Grid& g) {
  Cell r;
  const int64_t nx = g.ax[2].end - g.ax[2].begin;
  const int64_t xblocks = (nx + kBlock - 1) / kBlock;
  const int64_t ny = g.ax[1].end - g.ax[1].begin;
  const int64_t row = blockIdx.x / xblocks;
  r.c[0] = g.ax[0].begin + row / ny;
  r.c[1] = g.ax[1].begin + row % ny;
  r.c[2] = g.ax[2].begin + (blockIdx.x % xblocks) * kBlock + threadIdx.x;
  r.shot = blockIdx.y;
  r.valid = r.c[2] < g.ax[2].end;
  return r;
}

dim3 cell_grid(const Grid& g, int64_t nshot) {
  const int64_t nx = g.ax[2].end - g.ax[2].begin;
  const int64_t rows = (g.ax[0].end - g.ax[0].begin) * (g.ax[1].end - g.ax[1].begin);
  return dim3(unsigned(rows * ((nx + kBlock - 1) / kBlock)), unsigned(nshot));
}

template <typename T>
__device__ void swap_cells(T* a, T* b, int64_t j) {
  const T t = a[j];
  a[j] = b[j];
  b[j] = t;
}

// Odd mirror image above the free surface, for every shot.
template <typename T>
__global__ void mirror_kernel(Grid g, T* field) {
  const int64_t plane = g.ax[0].stride;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= plane * g.half) return;
  const int64_t m = 1 + i / plane, e = i % plane;
  T* u = field + int64_t(blockIdx.y) * g.cells;
  u[(g.half - m) * plane + e] = -u[(g.half + m) * plane + e];
}

template <typename T>
void mirror(const Call<T>& k, T* field, cudaStream_t s) {
  const int64_t n = k.g.ax[0].stride * k.g.half;
  mirror_kernel<T><<<dim3(unsigned((n + 255) / 256), unsigned(k.nshot)), 256, 0, s>>>(k.g, field);
}

template <typename T, int H>
__global__ void forward_step(Call<T> k, int64_t t, const T* p, T* pp, const T* psi, T* psi_n,
                             T* zeta, T* W) {
  const Cell cell = this_cell(k.g);
  if (!cell.valid) return;
  const Grid& g = k.g;
  const int64_t s = cell.shot, nd = g.ndim, cells = g.cells;
  const int64_t j = cell.c[0] * g.ax[0].stride + cell.c[1] * g.ax[1].stride + cell.c[2];
  p += s * cells;
  pp += s * cells;
  psi += s * nd * cells;
  psi_n += s * nd * cells;
  if (t >= k.nsteps[0]) {  // past the chunk's end: keep the contents with the roles
    swap_cells(const_cast<T*>(p), pp, j);
    for (int a = 0; a < nd; ++a) swap_cells(const_cast<T*>(psi) + a * cells, psi_n + a * cells, j);
    return;
  }
  const StepCtx<T, H> f{g, Stencil<T, H>::load(k.coef), k.V + k.mV.offset(s),
                        k.prof + k.mprof.offset(s), k.split};
  T a = 0;
  T* acc = &a - cell.c[2];  // the row buffer, seen at this thread's x
  T* Wt = W ? W + (s * k.K + t) * cells : nullptr;
  forward_row<T, H>(f, cell.c, cell.c[2], cell.c[2] + 1, p, pp, psi, psi_n, zeta + s * nd * cells,
                    Wt, acc);
}

// After step t: inject the source into the new field and record it (one block per shot).
template <typename T>
__global__ void inject_record(Call<T> k, int64_t t, T* field, const T* amp, BatchMap mamp,
                              T* recs) {
  const int64_t s = blockIdx.x;
  const bool active = t < k.nsteps[0];
  T* u = field + s * k.g.cells;
  if (threadIdx.x == 0 && active) u[k.src[k.msrc.offset(s)]] += amp[mamp.offset(s) + t];
  __syncthreads();
  for (int64_t r = threadIdx.x; r < k.nrec; r += blockDim.x)
    recs[(s * k.K + t) * k.nrec + r] = active ? u[k.rec[k.mrec.offset(s) + r]] : T(0);
}

// Before adjoint step t: add the record cotangents, read the source's (one thread per shot:
// receivers may share a cell).
template <typename T>
__global__ void adjoint_pre(Call<T> k, int64_t t, T* X, const T* rbar, BatchMap mrbar, T* gamp) {
  const int64_t s = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (s >= k.nshot) return;
  T* u = X + s * k.g.cells;
  if (t >= k.nsteps[0]) {
    gamp[s * k.K + t] = 0;
    return;
  }
  for (int64_t r = 0; r < k.nrec; ++r)
    u[k.rec[k.mrec.offset(s) + r]] += rbar[mrbar.offset(s) + t * k.nrec + r];
  gamp[s * k.K + t] = u[k.src[k.msrc.offset(s)]];
}

template <typename T, int H>
__global__ void adjoint_step(Call<T> k, int64_t t, const T* X, T* Y, const T* psi, T* psi_n,
                             const T* zeta, T* zeta_n, const T* W, BatchMap mW, T* gV,
                             BatchMap mgV) {
  const Cell cell = this_cell(k.g);
  if (!cell.valid) return;
  const Grid& g = k.g;
  const int64_t s = cell.shot, nd = g.ndim, cells = g.cells;
  const int64_t j = cell.c[0] * g.ax[0].stride + cell.c[1] * g.ax[1].stride + cell.c[2];
  X += s * cells;
  Y += s * cells;
  psi += s * nd * cells;
  psi_n += s * nd * cells;
  zeta += s * nd * cells;
  zeta_n += s * nd * cells;
  if (t >= k.nsteps[0]) {
    swap_cells(const_cast<T*>(X), Y, j);
    for (int a = 0; a < nd; ++a) {
      swap_cells(const_cast<T*>(psi) + a * cells, psi_n + a * cells, j);
      swap_cells(const_cast<T*>(zeta) + a * cells, zeta_n + a * cells, j);
    }
    return;
  }
  const StepCtx<T, H> f{g, Stencil<T, H>::load(k.coef), k.V + k.mV.offset(s),
                        k.prof + k.mprof.offset(s), k.split};
  T a = 0;
  T* acc = &a - cell.c[2];
  adjoint_row<T, H>(f, cell.c, cell.c[2], cell.c[2] + 1, X, Y, psi, psi_n, zeta, zeta_n,
                    W + mW.offset(s) + t * cells, gV + mgV.offset(s), acc);
}

template <typename T>
__global__ void swap_kernel(T* a, T* b, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) swap_cells(a, b, i);
}

template <typename T>
void swap_buffers(T* a, T* b, int64_t n, cudaStream_t s) {
  swap_kernel<T><<<unsigned((n + 255) / 256), 256, 0, s>>>(a, b, n);
}

// Enqueues a device-to-device copy on the call's stream.
struct AsyncCopy {
  cudaStream_t s;
  void operator()(void* dst, const void* src, size_t bytes) const {
    cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s);
  }
};

ffi::Error last_error() {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return ffi::Error::Internal(std::string("CUDA: ") + cudaGetErrorString(e));
  return ffi::Error::Success();
}


template <typename T>
T* out(ffi::Result<ffi::AnyBuffer>& b) {
  return static_cast<T*>(b->untyped_data());
}

template <typename T>
ffi::Error forward_typed(cudaStream_t stream, const Config& cfg, ffi::AnyBuffer p,
                         ffi::AnyBuffer pp, ffi::AnyBuffer psi, ffi::AnyBuffer zeta,
                         ffi::AnyBuffer V, ffi::AnyBuffer prof, ffi::AnyBuffer coef,
                         ffi::AnyBuffer amp, ffi::AnyBuffer src, ffi::AnyBuffer rec,
                         ffi::AnyBuffer nsteps, ffi::Result<ffi::AnyBuffer>& p_o,
                         ffi::Result<ffi::AnyBuffer>& pp_o, ffi::Result<ffi::AnyBuffer>& psi_o,
                         ffi::Result<ffi::AnyBuffer>& zeta_o, ffi::Result<ffi::AnyBuffer>& recs_o,
                         ffi::Result<ffi::AnyBuffer>& psi_t, ffi::Result<ffi::AnyBuffer>* W_o) {
  Layout c;
  BatchMap m_amp;
  const int64_t K = amp.dimensions().back();
  if (auto e = parse_layout(cfg, p_o->dimensions(), V, prof, src, rec, K, c); e.failure()) return e;
  if (auto e = map_operand(amp.dimensions(), 1, c, "amp", m_amp); e.failure()) return e;
  const int64_t cells = c.grid.cells, nd = cfg.ndim;
  T* field[2] = {out<T>(p_o), out<T>(pp_o)};
  T* psis[2] = {out<T>(psi_o), out<T>(psi_t)};
  T* ZETA = out<T>(zeta_o);
  if (auto e = copy_state<T>(c, nd, {p, pp, psi, zeta}, {field[0], field[1], psis[0], ZETA},
                                  AsyncCopy{stream});
      e.failure())
    return e;
  cudaMemsetAsync(psis[1], 0, c.nshot * nd * cells * sizeof(T), stream);
  T* W = W_o ? out<T>(*W_o) : nullptr;
  const Call<T> k = make_call<T>(c, coef, V, prof, src, rec, nsteps);
  const dim3 grid = cell_grid(c.grid, c.nshot);
  if (auto e = dispatch_order(cfg.order, [&](auto h) {
        constexpr int Hc = decltype(h)::value;
        for (int64_t t = 0; t < K; ++t) {
          if (c.grid.free_surface) mirror<T>(k, field[t % 2], stream);
          forward_step<T, Hc><<<grid, kBlock, 0, stream>>>(k, t, field[t % 2], field[(t + 1) % 2],
                                                           psis[t % 2], psis[(t + 1) % 2], ZETA, W);
          inject_record<T><<<unsigned(c.nshot), kBlock, 0, stream>>>(
              k, t, field[(t + 1) % 2], static_cast<const T*>(amp.untyped_data()), m_amp,
              out<T>(recs_o));
        }
        return ffi::Error::Success();
      });
      e.failure())
    return e;
  if (K % 2) {  // the current field and psi are in the second buffers
    swap_buffers(field[0], field[1], c.nshot * cells, stream);
    cudaMemcpyAsync(psis[0], psis[1], c.nshot * nd * cells * sizeof(T), cudaMemcpyDeviceToDevice,
                    stream);
  }
  return last_error();
}

template <typename T>
ffi::Error adjoint_typed(cudaStream_t stream, const Config& cfg, ffi::AnyBuffer X,
                         ffi::AnyBuffer Y, ffi::AnyBuffer psi, ffi::AnyBuffer zeta,
                         ffi::AnyBuffer V, ffi::AnyBuffer prof, ffi::AnyBuffer coef,
                         ffi::AnyBuffer W, ffi::AnyBuffer rbar, ffi::AnyBuffer src,
                         ffi::AnyBuffer rec, ffi::AnyBuffer nsteps,
                         ffi::Result<ffi::AnyBuffer>& X_o, ffi::Result<ffi::AnyBuffer>& Y_o,
                         ffi::Result<ffi::AnyBuffer>& psi_o, ffi::Result<ffi::AnyBuffer>& zeta_o,
                         ffi::Result<ffi::AnyBuffer>& gV_o, ffi::Result<ffi::AnyBuffer>& gamp_o,
                         ffi::Result<ffi::AnyBuffer>& psi_t, ffi::Result<ffi::AnyBuffer>& zeta_t) {
  Layout c;
  BatchMap m_W, m_rbar, m_gV;
  auto rb = rbar.dimensions();
  if (rb.size() < 2) return ffi::Error::InvalidArgument("rbar: rank < 2");
  const int64_t K = rb[rb.size() - 2];
  if (auto e = parse_layout(cfg, X_o->dimensions(), V, prof, src, rec, K, c); e.failure()) return e;
  for (auto e : {map_operand(W.dimensions(), cfg.ndim + 1, c, "W", m_W),
                 map_operand(rb, 2, c, "rbar", m_rbar),
                 map_operand(gV_o->dimensions(), cfg.ndim, c, "gV", m_gV)})
    if (e.failure()) return e;
  const int64_t cells = c.grid.cells, nd = cfg.ndim;
  T* xs[2] = {out<T>(X_o), out<T>(Y_o)};
  T* psis[2] = {out<T>(psi_o), out<T>(psi_t)};
  T* zetas[2] = {out<T>(zeta_o), out<T>(zeta_t)};
  if (auto e = copy_state<T>(c, nd, {X, Y, psi, zeta}, {xs[0], xs[1], psis[0], zetas[0]},
                                  AsyncCopy{stream});
      e.failure())
    return e;
  cudaMemsetAsync(psis[1], 0, c.nshot * nd * cells * sizeof(T), stream);
  cudaMemsetAsync(zetas[1], 0, c.nshot * nd * cells * sizeof(T), stream);
  cudaMemsetAsync(gV_o->untyped_data(), 0, gV_o->size_bytes(), stream);
  const Call<T> k = make_call<T>(c, coef, V, prof, src, rec, nsteps);
  const dim3 grid = cell_grid(c.grid, c.nshot);
  const T* Wd = static_cast<const T*>(W.untyped_data());
  const T* rbd = static_cast<const T*>(rbar.untyped_data());
  if (auto e = dispatch_order(cfg.order, [&](auto h) {
        constexpr int Hc = decltype(h)::value;
        for (int64_t i = 0; i < K; ++i) {
          const int64_t t = K - 1 - i;
          T* cur = xs[i % 2];
          adjoint_pre<T><<<unsigned((c.nshot + 63) / 64), 64, 0, stream>>>(k, t, cur, rbd, m_rbar,
                                                                         out<T>(gamp_o));
          if (c.grid.free_surface) mirror<T>(k, cur, stream);
          adjoint_step<T, Hc><<<grid, kBlock, 0, stream>>>(
              k, t, cur, xs[(i + 1) % 2], psis[i % 2], psis[(i + 1) % 2], zetas[i % 2],
              zetas[(i + 1) % 2], Wd, m_W, out<T>(gV_o), m_gV);
        }
        return ffi::Error::Success();
      });
      e.failure())
    return e;
  if (K % 2) {
    swap_buffers(xs[0], xs[1], c.nshot * cells, stream);
    cudaMemcpyAsync(psis[0], psis[1], c.nshot * nd * cells * sizeof(T), cudaMemcpyDeviceToDevice,
                    stream);
    cudaMemcpyAsync(zetas[0], zetas[1], c.nshot * nd * cells * sizeof(T),
                    cudaMemcpyDeviceToDevice, stream);
  }
  return last_error();
}


ffi::Error forward_any(cudaStream_t s, const Config& cfg, ffi::AnyBuffer p, ffi::AnyBuffer pp,
                       ffi::AnyBuffer psi, ffi::AnyBuffer zeta, ffi::AnyBuffer V,
                       ffi::AnyBuffer prof, ffi::AnyBuffer coef, ffi::AnyBuffer amp,
                       ffi::AnyBuffer src, ffi::AnyBuffer rec, ffi::AnyBuffer nsteps,
                       ffi::Result<ffi::AnyBuffer>& p_o, ffi::Result<ffi::AnyBuffer>& pp_o,
                       ffi::Result<ffi::AnyBuffer>& psi_o, ffi::Result<ffi::AnyBuffer>& zeta_o,
                       ffi::Result<ffi::AnyBuffer>& recs_o, ffi::Result<ffi::AnyBuffer>& psi_t,
                       ffi::Result<ffi::AnyBuffer>* W_o) {
  return dispatch_float({V.element_type(), p.element_type(), pp.element_type(), psi.element_type(),
                         zeta.element_type(), prof.element_type(), coef.element_type(),
                         amp.element_type()},
                        [&](auto x) {
                          return forward_typed<decltype(x)>(s, cfg, p, pp, psi, zeta, V, prof,
                                                            coef, amp, src, rec, nsteps, p_o, pp_o,
                                                            psi_o, zeta_o, recs_o, psi_t, W_o);
                        });
}

ffi::Error Forward(cudaStream_t s, ffi::AnyBuffer p, ffi::AnyBuffer pp, ffi::AnyBuffer psi,
                   ffi::AnyBuffer zeta, ffi::AnyBuffer V, ffi::AnyBuffer prof, ffi::AnyBuffer coef,
                   ffi::AnyBuffer amp, ffi::AnyBuffer src, ffi::AnyBuffer rec,
                   ffi::AnyBuffer nsteps, ffi::Result<ffi::AnyBuffer> p_o,
                   ffi::Result<ffi::AnyBuffer> pp_o, ffi::Result<ffi::AnyBuffer> psi_o,
                   ffi::Result<ffi::AnyBuffer> zeta_o, ffi::Result<ffi::AnyBuffer> recs_o,
                   ffi::Result<ffi::AnyBuffer> psi_t, int64_t ndim, int64_t order, int64_t abcn,
                   bool free_surface) {
  return forward_any(s, {ndim, order, abcn, free_surface}, p, pp, psi, zeta, V, prof, coef, amp,
                     src, rec, nsteps, p_o, pp_o, psi_o, zeta_o, recs_o, psi_t, nullptr);
}

ffi::Error ForwardSave(cudaStream_t s, ffi::AnyBuffer p, ffi::AnyBuffer pp, ffi::AnyBuffer psi,
                       ffi::AnyBuffer zeta, ffi::AnyBuffer V, ffi::AnyBuffer prof,
                       ffi::AnyBuffer coef, ffi::AnyBuffer amp, ffi::AnyBuffer src,
                       ffi::AnyBuffer rec, ffi::AnyBuffer nsteps, ffi::Result<ffi::AnyBuffer> p_o,
                       ffi::Result<ffi::AnyBuffer> pp_o, ffi::Result<ffi::AnyBuffer> psi_o,
                       ffi::Result<ffi::AnyBuffer> zeta_o, ffi::Result<ffi::AnyBuffer> recs_o,
                       ffi::Result<ffi::AnyBuffer> psi_t, ffi::Result<ffi::AnyBuffer> W_o,
                       int64_t ndim, int64_t order, int64_t abcn, bool free_surface) {
  return forward_any(s, {ndim, order, abcn, free_surface}, p, pp, psi, zeta, V, prof, coef, amp,
                     src, rec, nsteps, p_o, pp_o, psi_o, zeta_o, recs_o, psi_t, &W_o);
}

ffi::Error Adjoint(cudaStream_t s, ffi::AnyBuffer X, ffi::AnyBuffer Y, ffi::AnyBuffer psi,
                   ffi::AnyBuffer zeta, ffi::AnyBuffer V, ffi::AnyBuffer prof, ffi::AnyBuffer coef,
                   ffi::AnyBuffer W, ffi::AnyBuffer rbar, ffi::AnyBuffer src, ffi::AnyBuffer rec,
                   ffi::AnyBuffer nsteps, ffi::Result<ffi::AnyBuffer> X_o,
                   ffi::Result<ffi::AnyBuffer> Y_o, ffi::Result<ffi::AnyBuffer> psi_o,
                   ffi::Result<ffi::AnyBuffer> zeta_o, ffi::Result<ffi::AnyBuffer> gV_o,
                   ffi::Result<ffi::AnyBuffer> gamp_o, ffi::Result<ffi::AnyBuffer> psi_t,
                   ffi::Result<ffi::AnyBuffer> zeta_t, int64_t ndim, int64_t order, int64_t abcn,
                   bool free_surface) {
  const Config cfg{ndim, order, abcn, free_surface};
  return dispatch_float({V.element_type(), X.element_type(), Y.element_type(), psi.element_type(),
                         zeta.element_type(), prof.element_type(), coef.element_type(),
                         W.element_type(), rbar.element_type()},
                        [&](auto x) {
                          return adjoint_typed<decltype(x)>(s, cfg, X, Y, psi, zeta, V, prof, coef,
                                                            W, rbar, src, rec, nsteps, X_o, Y_o,
                                                            psi_o, zeta_o, gV_o, gamp_o, psi_t,
                                                            zeta_t);
                        });
}

}  // namespace
}  // namespace sweep::acoustic

#include "acoustic/acoustic_bindings.h"

SWEEP_ACOUSTIC_HANDLERS(Cuda, .Ctx<xla::ffi::PlatformStream<cudaStream_t>>())
