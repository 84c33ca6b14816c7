// Host-side view of a chunk call's operands, shared by the CPU and CUDA handlers: the grid,
// the shot batch and where each shot's block of every operand starts.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "common/batch.h"
#include "common/grid.h"
#include "xla/ffi/api/ffi.h"

namespace sweep::acoustic {

namespace ffi = xla::ffi;

struct Config {
  int64_t ndim, order, abcn;
  bool free_surface;
  int64_t xpad;  // dead cells past x's high halo (Grid)
};

struct Layout {
  Grid grid;
  std::vector<int64_t> shots;  // batch dims of the call
  int64_t nshot = 1;
  int64_t K = 0, nrec = 0;
  int64_t wsteps = 0;  // S: W's steps per shot (calls with a W)
  BatchMap V, prof, src, rec;
};

// `out_dims`: dims of the state output (its batch dims are the call's shot batch).
inline ffi::Error parse_layout(const Config& cfg, ffi::Span<const int64_t> out_dims,
                               ffi::AnyBuffer V, ffi::AnyBuffer prof, ffi::AnyBuffer src,
                               ffi::AnyBuffer rec, int64_t K, Layout& c) {
  if (cfg.ndim != 2 && cfg.ndim != 3) return ffi::Error::InvalidArgument("ndim must be 2 or 3");
  if (cfg.order < 2 || cfg.order > 8 || cfg.order % 2)
    return ffi::Error::InvalidArgument("order must be 2, 4, 6 or 8");
  auto vd = V.dimensions();
  if (vd.size() < size_t(cfg.ndim)) return ffi::Error::InvalidArgument("V: rank < ndim");
  if (cfg.xpad < 0 || cfg.xpad > 3) return ffi::Error::InvalidArgument("xpad must be 0 to 3");
  c.grid = Grid::make(int(cfg.ndim), vd.end() - cfg.ndim, int(cfg.order / 2), cfg.abcn,
                      cfg.free_surface, cfg.xpad);
  c.shots = batch_dims(out_dims, size_t(cfg.ndim));
  c.nshot = 1;
  for (int64_t d : c.shots) c.nshot *= d;
  c.K = K;
  auto rd = rec.dimensions();
  c.nrec = rd.size() == 0 ? 0 : rd.back();
  if (prof.dimensions().back() != c.grid.smax)
    return ffi::Error::InvalidArgument("profiles: wrong row length");
  std::string err;
  if (!batch_map(vd, cfg.ndim, c.shots, "V", c.V, err) ||
      !batch_map(prof.dimensions(), 3, c.shots, "profiles", c.prof, err) ||
      !batch_map(src.dimensions(), 0, c.shots, "src", c.src, err) ||
      !batch_map(rd, 1, c.shots, "rec", c.rec, err))
    return ffi::Error::InvalidArgument(err);
  return ffi::Error::Success();
}

// BatchMap of one more operand, as an ffi::Error.
inline ffi::Error map_operand(ffi::Span<const int64_t> dims, size_t core_rank, const Layout& c,
                              const char* name, BatchMap& out) {
  std::string err;
  if (!batch_map(dims, core_rank, c.shots, name, out, err)) return ffi::Error::InvalidArgument(err);
  return ffi::Error::Success();
}

// W's core dims must be (S >= K steps, the storage dims without their halo): Grid::w_index's
// layout. Sets `steps` to S.
inline ffi::Error check_w_dims(ffi::Span<const int64_t> dims, const Layout& c, const char* name,
                               int64_t& steps) {
  const Grid& g = c.grid;
  std::vector<int64_t> want(size_t(g.ndim + 1));
  want[0] = c.K;
  for (int a = 0; a < 3; ++a)
    if (g.ax[a].active) want[size_t(1 + g.ax[a].slot)] = g.w_size(a);
  const size_t first = dims.size() - want.size();
  bool ok = dims.size() >= want.size() && dims[first] >= c.K;
  for (size_t i = 1; ok && i < want.size(); ++i) ok = dims[first + i] == want[i];
  if (ok) {
    steps = dims[first];
    return ffi::Error::Success();
  }
  std::string w;
  for (int64_t d : want) w += (w.empty() ? "" : ", ") + std::to_string(d);
  return ffi::Error::InvalidArgument(std::string(name) + ": core dims must be (" + w +
                                     "): steps (at least the call's), then the storage grid "
                                     "without its halo");
}

// The operands of a forward call (W_o for forward_save and forward_store, w0 for forward_store
// only) and of an adjoint call, gathered once by the shared FFI entry points
// (acoustic_bindings.h) for the backends. W holds S steps per shot; a call's K steps are its
// steps w0 .. w0 + K - 1 (w0: a scalar operand, absent for forward_save: 0).
struct ForwardArgs {
  Config cfg;
  ffi::AnyBuffer p, pp, psi, zeta, V, prof, coef, amp, src, rec, nsteps;
  ffi::Result<ffi::AnyBuffer>*p_o, *pp_o, *psi_o, *zeta_o, *recs_o, *psi_t;
  ffi::Result<ffi::AnyBuffer>* spare_o;  // two fields per shot (or none): see forward_pass
  ffi::Result<ffi::AnyBuffer>* W_o;
  const ffi::AnyBuffer* w0;
  bool clean_scratch;  // the second psi buffer is zero wherever the kernels do not write
  // Update only the physical model's cells: the PML's keep their values in p, psi and zeta, and
  // W there is not written (boundary saving's reverse steps, which need the physical cells only).
  bool physical_only;
};

struct AdjointArgs {  // gV_o holds the dJ/dV to add to (the gV operand it is aliased to)
  Config cfg;
  ffi::AnyBuffer X, Y, psi, zeta, V, prof, coef, W, rbar, src, rec, nsteps, w0;
  ffi::Result<ffi::AnyBuffer>*X_o, *Y_o, *psi_o, *zeta_o, *gV_o, *gamp_o, *psi_t, *zeta_t;
  bool clean_scratch;  // the second psi and zeta buffers are zero wherever the kernels do not write
};

// A call's layout plus the batch maps of the operands only its kind has.
struct ForwardLayout : Layout {
  BatchMap amp;
};

struct AdjointLayout : Layout {
  BatchMap W, rbar, gV;
};

inline ffi::Error parse(const ForwardArgs& a, ForwardLayout& c) {
  const int64_t K = a.amp.dimensions().back();
  if (auto e = parse_layout(a.cfg, (*a.p_o)->dimensions(), a.V, a.prof, a.src, a.rec, K, c);
      e.failure())
    return e;
  if (a.W_o) {
    // W is written densely, shot by shot: its batch dims are the call's.
    const auto wd = (*a.W_o)->dimensions();
    if (auto e = check_w_dims(wd, c, "W", c.wsteps); e.failure()) return e;
    if (batch_dims(wd, size_t(a.cfg.ndim + 1)) != c.shots)
      return ffi::Error::InvalidArgument("W: batch dims must be the state's");
    if ((*a.W_o)->element_type() != a.p.element_type())
      return ffi::Error::InvalidArgument("W: dtype must be the state's");
    if (!a.w0 && c.wsteps != K)
      return ffi::Error::InvalidArgument("W: forward_save's W has the call's K steps");
  }
  return map_operand(a.amp.dimensions(), 1, c, "amp", c.amp);
}

inline ffi::Error parse(const AdjointArgs& a, AdjointLayout& c) {
  const auto rb = a.rbar.dimensions();
  if (rb.size() < 2) return ffi::Error::InvalidArgument("rbar: rank < 2");
  const int64_t nd = a.cfg.ndim, K = rb[rb.size() - 2];
  if (auto e = parse_layout(a.cfg, (*a.X_o)->dimensions(), a.V, a.prof, a.src, a.rec, K, c);
      e.failure())
    return e;
  if ((*a.gV_o)->element_type() != a.V.element_type())
    return ffi::Error::InvalidArgument("gV: dtype must be V's");
  for (auto e : {check_w_dims(a.W.dimensions(), c, "W", c.wsteps),
                 map_operand(a.W.dimensions(), nd + 1, c, "W", c.W),
                 map_operand(rb, 2, c, "rbar", c.rbar),
                 map_operand((*a.gV_o)->dimensions(), nd, c, "gV", c.gV)})
    if (e.failure()) return e;
  return ffi::Error::Success();
}

// Typed views of operands and results.
template <typename T>
const T* data(const ffi::AnyBuffer& b) { return static_cast<const T*>(b.untyped_data()); }
template <typename T>
T* data(ffi::Result<ffi::AnyBuffer>* b) { return static_cast<T*>((*b)->untyped_data()); }

// Copies the four state operands (field, other field, psi, zeta), each broadcast over the
// shots, into the dense outputs with `copy(dst, src, bytes)` (memcpy, or an async device copy).
template <typename T, typename Copy>
ffi::Error copy_state(const Layout& c, int64_t nd, const ffi::AnyBuffer (&in)[4],
                      T* const (&out)[4], Copy&& copy) {
  const char* names[4] = {"field", "other field", "psi", "zeta"};
  for (int i = 0; i < 4; ++i) {
    const bool aux = i >= 2;
    const int64_t block = (aux ? nd : 1) * c.grid.cells;
    BatchMap m;
    if (auto e = map_operand(in[i].dimensions(), nd + aux, c, names[i], m); e.failure()) return e;
    const T* src = static_cast<const T*>(in[i].untyped_data());
    for (int64_t s = 0; s < c.nshot; ++s)
      if (src + m.offset(s) != out[i] + s * block)
        copy(out[i] + s * block, src + m.offset(s), block * sizeof(T));
  }
  return ffi::Error::Success();
}

// Calls f(std::integral_constant<int, order / 2>).
template <typename F>
ffi::Error dispatch_order(int64_t order, F&& f) {
  switch (order / 2) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
  }
  return ffi::Error::InvalidArgument("order must be 2, 4, 6 or 8");
}

// Calls f(T{}) with T the one float type (float or double) of all the float operands.
template <typename F>
ffi::Error dispatch_float(std::initializer_list<ffi::DataType> types, F&& f) {
  const ffi::DataType t = *types.begin();
  for (ffi::DataType u : types)
    if (u != t) return ffi::Error::InvalidArgument("float operands must all be float32 or all float64");
  if (t == ffi::DataType::F32) return f(float{});
  if (t == ffi::DataType::F64) return f(double{});
  return ffi::Error::InvalidArgument("float operands must be float32 or float64");
}

}  // namespace sweep::acoustic
