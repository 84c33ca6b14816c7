// XLA FFI bindings and entry points of the acoustic chunk targets (forward, forward_save,
// forward_store, adjoint, and each with _scratch: the caller hands in the scratch buffers),
// shared by the CPU and CUDA handlers: SWEEP_ACOUSTIC_HANDLERS(Cpu, CpuEntry, ) or
// SWEEP_ACOUSTIC_HANDLERS(Cuda, CudaEntry, .Ctx<stream>(), traits) defines
// SweepAcoustic{Forward,ForwardSave,ForwardStore,Adjoint}[Scratch]<Suffix>.
//   (all forward targets also return the spare fields: two fields per shot that the CUDA
//   forward works in where it runs two steps per pass over the box, or an empty array;
//   ffi_chunk.spare_fields)
//   forward_save   also returns W, the per-step stencil sums the adjoint reads (K steps)
//   forward_store  writes them into steps w0 .. w0 + K - 1 of a W operand of S steps, aliased
//                  to the W result: a stack of every step's W filled in place, chunk by chunk
//   adjoint        reads steps w0 .. w0 + K - 1 of its W operand, and adds the chunk's V dJ/dV
//                  into its gV operand, aliased to the result (a sum carried through the
//                  backward, neither cleared nor added per call); its fields are the field
//                  cotangents scaled by V (acoustic_rows.h)
#pragma once

#include "acoustic/acoustic_layout.h"
#include "xla/ffi/api/ffi.h"

#define SWEEP_STATE_ARGS                                                                    \
  .Arg<xla::ffi::AnyBuffer>() /* p */.Arg<xla::ffi::AnyBuffer>() /* p_prev */                \
      .Arg<xla::ffi::AnyBuffer>() /* psi */.Arg<xla::ffi::AnyBuffer>() /* zeta */            \
      .Arg<xla::ffi::AnyBuffer>() /* V */.Arg<xla::ffi::AnyBuffer>() /* profiles */          \
      .Arg<xla::ffi::AnyBuffer>() /* coef */

#define SWEEP_ATTRS                                                                         \
  .Attr<int64_t>("ndim").Attr<int64_t>("order").Attr<int64_t>("abcn").Attr<bool>("free_surface") \
      .Attr<int64_t>("xpad")
// The forward targets' own: physical_only (ForwardArgs).
#define SWEEP_FORWARD_ATTRS SWEEP_ATTRS.Attr<bool>("physical_only")

// Operands of the forward targets: forward_store adds W and w0 (forward_save and forward_store
// return W); the _scratch targets take the psi scratch as an operand too (aliased to its result,
// see Entry).
#define SWEEP_FORWARD_ARGS(CTX)                                                             \
  xla::ffi::Ffi::Bind() CTX SWEEP_STATE_ARGS.Arg<xla::ffi::AnyBuffer>() /* amp */            \
      .Arg<xla::ffi::AnyBuffer>() /* src */.Arg<xla::ffi::AnyBuffer>() /* rec */             \
      .Arg<xla::ffi::AnyBuffer>() /* nsteps */

#define SWEEP_FORWARD_RETS                                                                  \
  .Ret<xla::ffi::AnyBuffer>() /* p */.Ret<xla::ffi::AnyBuffer>() /* p_prev */                \
      .Ret<xla::ffi::AnyBuffer>() /* psi */.Ret<xla::ffi::AnyBuffer>() /* zeta */            \
      .Ret<xla::ffi::AnyBuffer>() /* records */.Ret<xla::ffi::AnyBuffer>() /* psi scratch */   \
      .Ret<xla::ffi::AnyBuffer>() /* spare fields */

#define SWEEP_ADJOINT_ARGS(CTX)                                                             \
  xla::ffi::Ffi::Bind() CTX SWEEP_STATE_ARGS.Arg<xla::ffi::AnyBuffer>() /* W */              \
      .Arg<xla::ffi::AnyBuffer>() /* rbar */.Arg<xla::ffi::AnyBuffer>() /* src */            \
      .Arg<xla::ffi::AnyBuffer>() /* rec */.Arg<xla::ffi::AnyBuffer>() /* nsteps */          \
      .Arg<xla::ffi::AnyBuffer>() /* w0 */.Arg<xla::ffi::AnyBuffer>() /* gV */

#define SWEEP_ADJOINT_RETS                                                                  \
  .Ret<xla::ffi::AnyBuffer>() /* adj p */.Ret<xla::ffi::AnyBuffer>() /* adj p_next */        \
      .Ret<xla::ffi::AnyBuffer>() /* adj psi */.Ret<xla::ffi::AnyBuffer>() /* adj zeta */    \
      .Ret<xla::ffi::AnyBuffer>() /* dJ/dV */.Ret<xla::ffi::AnyBuffer>() /* dJ/d amp */      \
      .Ret<xla::ffi::AnyBuffer>() /* psi scratch */.Ret<xla::ffi::AnyBuffer>() /* zeta scratch */

namespace sweep::acoustic {

// Parameters of the entry points, in binding order (see the SWEEP_*_ARGS / _RETS above).
#define SWEEP_FORWARD_PARAMS                                                                \
  ffi::AnyBuffer p, ffi::AnyBuffer pp, ffi::AnyBuffer psi, ffi::AnyBuffer zeta, ffi::AnyBuffer V, \
      ffi::AnyBuffer prof, ffi::AnyBuffer coef, ffi::AnyBuffer amp, ffi::AnyBuffer src,      \
      ffi::AnyBuffer rec, ffi::AnyBuffer nsteps
#define SWEEP_FORWARD_RESULTS                                                               \
  ffi::Result<ffi::AnyBuffer> p_o, ffi::Result<ffi::AnyBuffer> pp_o,                         \
      ffi::Result<ffi::AnyBuffer> psi_o, ffi::Result<ffi::AnyBuffer> zeta_o,                 \
      ffi::Result<ffi::AnyBuffer> recs_o, ffi::Result<ffi::AnyBuffer> psi_t,                 \
      ffi::Result<ffi::AnyBuffer> spare_o
#define SWEEP_ADJOINT_PARAMS                                                                \
  ffi::AnyBuffer X, ffi::AnyBuffer Y, ffi::AnyBuffer psi, ffi::AnyBuffer zeta, ffi::AnyBuffer V,  \
      ffi::AnyBuffer prof, ffi::AnyBuffer coef, ffi::AnyBuffer W, ffi::AnyBuffer rbar,       \
      ffi::AnyBuffer src, ffi::AnyBuffer rec, ffi::AnyBuffer nsteps, ffi::AnyBuffer w0,           \
      ffi::AnyBuffer
#define SWEEP_ADJOINT_RESULTS                                                               \
  ffi::Result<ffi::AnyBuffer> X_o, ffi::Result<ffi::AnyBuffer> Y_o,                          \
      ffi::Result<ffi::AnyBuffer> psi_o, ffi::Result<ffi::AnyBuffer> zeta_o,                 \
      ffi::Result<ffi::AnyBuffer> gV_o, ffi::Result<ffi::AnyBuffer> gamp_o,                  \
      ffi::Result<ffi::AnyBuffer> psi_t, ffi::Result<ffi::AnyBuffer> zeta_t
#define SWEEP_ATTR_PARAMS \
  int64_t ndim, int64_t order, int64_t abcn, bool free_surface, int64_t xpad
#define SWEEP_FORWARD_ATTR_PARAMS SWEEP_ATTR_PARAMS, bool physical_only
#define SWEEP_FORWARD_ARGS_OF(W_O, W0, CLEAN)                                               \
  ForwardArgs{{ndim, order, abcn, free_surface, xpad}, p, pp, psi, zeta, V, prof, coef, amp, src, rec, \
              nsteps, &p_o, &pp_o, &psi_o, &zeta_o, &recs_o, &psi_t, &spare_o, W_O, W0, CLEAN, \
              physical_only}
#define SWEEP_ADJOINT_ARGS_OF(CLEAN)                                                        \
  AdjointArgs{{ndim, order, abcn, free_surface, xpad}, X, Y, psi, zeta, V, prof, coef, W, rbar, src, \
              rec, nsteps, w0, &X_o, &Y_o, &psi_o, &zeta_o, &gV_o, &gamp_o, &psi_t, &zeta_t, CLEAN}

// The FFI entry points of one backend: `Kernels` provides
//   template <typename T> static ffi::Error forward(Ctx..., const ForwardArgs&);
//   template <typename T> static ffi::Error adjoint(Ctx..., const AdjointArgs&);
// and `Ctx...` is what the binding decodes before the operands (the CUDA stream; nothing on CPU).
// forward_store's W operand is aliased to its W result, and the adjoint's gV operand to its dJ/dV
// result: the kernels work in the results.
// The _scratch entry points take, after the plain operands, the operands aliased to the scratch
// results (psi's; the adjoint's psi's and zeta's): buffers that are zero wherever the kernels do
// not write (as the scratch results of the same target leave them), so the kernels need not
// clear them (ForwardArgs::clean_scratch).
template <typename Kernels, typename... Ctx>
struct Entry {
  static ffi::Error forward(Ctx... ctx, SWEEP_FORWARD_PARAMS, SWEEP_FORWARD_RESULTS,
                            SWEEP_FORWARD_ATTR_PARAMS) {
    return run(ctx..., SWEEP_FORWARD_ARGS_OF(nullptr, nullptr, false));
  }
  static ffi::Error forward_scratch(Ctx... ctx, SWEEP_FORWARD_PARAMS, ffi::AnyBuffer,
                                    SWEEP_FORWARD_RESULTS, SWEEP_FORWARD_ATTR_PARAMS) {
    return run(ctx..., SWEEP_FORWARD_ARGS_OF(nullptr, nullptr, true));
  }
  static ffi::Error forward_save(Ctx... ctx, SWEEP_FORWARD_PARAMS, SWEEP_FORWARD_RESULTS,
                                 ffi::Result<ffi::AnyBuffer> W_o, SWEEP_FORWARD_ATTR_PARAMS) {
    return run(ctx..., SWEEP_FORWARD_ARGS_OF(&W_o, nullptr, false));
  }
  static ffi::Error forward_save_scratch(Ctx... ctx, SWEEP_FORWARD_PARAMS, ffi::AnyBuffer,
                                        SWEEP_FORWARD_RESULTS, ffi::Result<ffi::AnyBuffer> W_o,
                                        SWEEP_FORWARD_ATTR_PARAMS) {
    return run(ctx..., SWEEP_FORWARD_ARGS_OF(&W_o, nullptr, true));
  }
  static ffi::Error forward_store(Ctx... ctx, SWEEP_FORWARD_PARAMS, ffi::AnyBuffer,
                                  ffi::AnyBuffer w0, SWEEP_FORWARD_RESULTS,
                                  ffi::Result<ffi::AnyBuffer> W_o, SWEEP_FORWARD_ATTR_PARAMS) {
    return run(ctx..., SWEEP_FORWARD_ARGS_OF(&W_o, &w0, false));
  }
  static ffi::Error forward_store_scratch(Ctx... ctx, SWEEP_FORWARD_PARAMS, ffi::AnyBuffer,
                                         ffi::AnyBuffer w0, ffi::AnyBuffer, SWEEP_FORWARD_RESULTS,
                                         ffi::Result<ffi::AnyBuffer> W_o,
                                         SWEEP_FORWARD_ATTR_PARAMS) {
    return run(ctx..., SWEEP_FORWARD_ARGS_OF(&W_o, &w0, true));
  }
  static ffi::Error adjoint(Ctx... ctx, SWEEP_ADJOINT_PARAMS, SWEEP_ADJOINT_RESULTS,
                            SWEEP_ATTR_PARAMS) {
    return run(ctx..., SWEEP_ADJOINT_ARGS_OF(false));
  }
  static ffi::Error adjoint_scratch(Ctx... ctx, SWEEP_ADJOINT_PARAMS, ffi::AnyBuffer,
                                    ffi::AnyBuffer, SWEEP_ADJOINT_RESULTS, SWEEP_ATTR_PARAMS) {
    return run(ctx..., SWEEP_ADJOINT_ARGS_OF(true));
  }

 private:
  static ffi::Error run(Ctx... ctx, const AdjointArgs& a) {
    return dispatch_float({a.V.element_type(), a.X.element_type(), a.Y.element_type(),
                           a.psi.element_type(), a.zeta.element_type(), a.prof.element_type(),
                           a.coef.element_type(), a.W.element_type(), a.rbar.element_type()},
                          [&](auto x) { return Kernels::template adjoint<decltype(x)>(ctx..., a); });
  }
  static ffi::Error run(Ctx... ctx, const ForwardArgs& a) {
    return dispatch_float({a.V.element_type(), a.p.element_type(), a.pp.element_type(),
                           a.psi.element_type(), a.zeta.element_type(), a.prof.element_type(),
                           a.coef.element_type(), a.amp.element_type()},
                          [&](auto x) { return Kernels::template forward<decltype(x)>(ctx..., a); });
  }
};

}  // namespace sweep::acoustic

// Defines SweepAcoustic{Forward,ForwardSave,ForwardStore,Adjoint}[Scratch]<SUFFIX> over ENTRY
// (an Entry<...> type), with the binding's context CTX and optional handler traits.
#define SWEEP_ACOUSTIC_HANDLERS(SUFFIX, ENTRY, CTX, ...)                                     \
  SWEEP_ACOUSTIC_HANDLER_SET(SUFFIX, ENTRY, CTX, , , ##__VA_ARGS__)                           \
  SWEEP_ACOUSTIC_HANDLER_SET(Scratch##SUFFIX, ENTRY, CTX, _scratch,                          \
                             .Arg<xla::ffi::AnyBuffer>(), ##__VA_ARGS__)

// The four handlers, of the entry points with name suffix S and the scratch operand ARG.
#define SWEEP_ACOUSTIC_HANDLER_SET(SUFFIX, ENTRY, CTX, S, ARG, ...)                          \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticForward##SUFFIX, ENTRY::forward##S,              \
                                SWEEP_FORWARD_ARGS(CTX) ARG SWEEP_FORWARD_RETS              \
                                    SWEEP_FORWARD_ATTRS,                                     \
                                ##__VA_ARGS__);                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticForwardSave##SUFFIX, ENTRY::forward_save##S,     \
                                SWEEP_FORWARD_ARGS(CTX) ARG SWEEP_FORWARD_RETS                \
                                    .Ret<xla::ffi::AnyBuffer>() /* W */ SWEEP_FORWARD_ATTRS, \
                                ##__VA_ARGS__);                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticForwardStore##SUFFIX, ENTRY::forward_store##S,   \
                                SWEEP_FORWARD_ARGS(CTX).Arg<xla::ffi::AnyBuffer>() /* W */    \
                                    .Arg<xla::ffi::AnyBuffer>() /* w0 */ ARG                  \
                                        SWEEP_FORWARD_RETS.Ret<xla::ffi::AnyBuffer>() /* W */ \
                                            SWEEP_FORWARD_ATTRS,                     \
                                ##__VA_ARGS__);                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticAdjoint##SUFFIX, ENTRY::adjoint##S,              \
                                SWEEP_ADJOINT_ARGS(CTX) ARG ARG SWEEP_ADJOINT_RETS SWEEP_ATTRS, \
                                ##__VA_ARGS__);
