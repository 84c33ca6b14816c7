// XLA FFI bindings and entry points of the three acoustic chunk targets, shared by the CPU and
// CUDA handlers: SWEEP_ACOUSTIC_HANDLERS(Cpu, CpuEntry, ) or
// SWEEP_ACOUSTIC_HANDLERS(Cuda, CudaEntry, .Ctx<stream>(), traits) defines
// SweepAcousticForward<Suffix>, SweepAcousticForwardSave<Suffix>, SweepAcousticAdjoint<Suffix>.
#pragma once

#include "acoustic/acoustic_layout.h"
#include "xla/ffi/api/ffi.h"

#define SWEEP_STATE_ARGS                                                                    \
  .Arg<xla::ffi::AnyBuffer>() /* p */.Arg<xla::ffi::AnyBuffer>() /* p_prev */                \
      .Arg<xla::ffi::AnyBuffer>() /* psi */.Arg<xla::ffi::AnyBuffer>() /* zeta */            \
      .Arg<xla::ffi::AnyBuffer>() /* V */.Arg<xla::ffi::AnyBuffer>() /* profiles */          \
      .Arg<xla::ffi::AnyBuffer>() /* coef */

#define SWEEP_ATTRS                                                                         \
  .Attr<int64_t>("ndim").Attr<int64_t>("order").Attr<int64_t>("abcn").Attr<bool>("free_surface")

// Operands of both forward targets; forward_save adds W.
#define SWEEP_FORWARD_BIND(CTX)                                                             \
  xla::ffi::Ffi::Bind() CTX SWEEP_STATE_ARGS.Arg<xla::ffi::AnyBuffer>() /* amp */            \
      .Arg<xla::ffi::AnyBuffer>() /* src */.Arg<xla::ffi::AnyBuffer>() /* rec */             \
      .Arg<xla::ffi::AnyBuffer>() /* nsteps */.Ret<xla::ffi::AnyBuffer>() /* p */            \
      .Ret<xla::ffi::AnyBuffer>() /* p_prev */.Ret<xla::ffi::AnyBuffer>() /* psi */          \
      .Ret<xla::ffi::AnyBuffer>() /* zeta */.Ret<xla::ffi::AnyBuffer>() /* records */        \
      .Ret<xla::ffi::AnyBuffer>() /* psi scratch */

#define SWEEP_ADJOINT_BIND(CTX)                                                             \
  xla::ffi::Ffi::Bind() CTX SWEEP_STATE_ARGS.Arg<xla::ffi::AnyBuffer>() /* W */              \
      .Arg<xla::ffi::AnyBuffer>() /* rbar */.Arg<xla::ffi::AnyBuffer>() /* src */            \
      .Arg<xla::ffi::AnyBuffer>() /* rec */.Arg<xla::ffi::AnyBuffer>() /* nsteps */          \
      .Ret<xla::ffi::AnyBuffer>() /* adj p */.Ret<xla::ffi::AnyBuffer>() /* adj p_next */    \
      .Ret<xla::ffi::AnyBuffer>() /* adj psi */.Ret<xla::ffi::AnyBuffer>() /* adj zeta */    \
      .Ret<xla::ffi::AnyBuffer>() /* dJ/dV */.Ret<xla::ffi::AnyBuffer>() /* dJ/d amp */      \
      .Ret<xla::ffi::AnyBuffer>() /* psi scratch */.Ret<xla::ffi::AnyBuffer>() /* zeta scratch */

namespace sweep::acoustic {

// The FFI entry points of one backend: `Kernels` provides
//   template <typename T> static ffi::Error forward(Ctx..., const ForwardArgs&);
//   template <typename T> static ffi::Error adjoint(Ctx..., const AdjointArgs&);
// and `Ctx...` is what the binding decodes before the operands (the CUDA stream; nothing on CPU).
template <typename Kernels, typename... Ctx>
struct Entry {
  static ffi::Error forward(Ctx... ctx, ffi::AnyBuffer p, ffi::AnyBuffer pp, ffi::AnyBuffer psi,
                            ffi::AnyBuffer zeta, ffi::AnyBuffer V, ffi::AnyBuffer prof,
                            ffi::AnyBuffer coef, ffi::AnyBuffer amp, ffi::AnyBuffer src,
                            ffi::AnyBuffer rec, ffi::AnyBuffer nsteps,
                            ffi::Result<ffi::AnyBuffer> p_o, ffi::Result<ffi::AnyBuffer> pp_o,
                            ffi::Result<ffi::AnyBuffer> psi_o, ffi::Result<ffi::AnyBuffer> zeta_o,
                            ffi::Result<ffi::AnyBuffer> recs_o, ffi::Result<ffi::AnyBuffer> psi_t,
                            int64_t ndim, int64_t order, int64_t abcn, bool free_surface) {
    return run(ctx..., ForwardArgs{{ndim, order, abcn, free_surface}, p, pp, psi, zeta, V, prof,
                                   coef, amp, src, rec, nsteps, &p_o, &pp_o, &psi_o, &zeta_o,
                                   &recs_o, &psi_t, nullptr});
  }

  static ffi::Error forward_save(Ctx... ctx, ffi::AnyBuffer p, ffi::AnyBuffer pp,
                                 ffi::AnyBuffer psi, ffi::AnyBuffer zeta, ffi::AnyBuffer V,
                                 ffi::AnyBuffer prof, ffi::AnyBuffer coef, ffi::AnyBuffer amp,
                                 ffi::AnyBuffer src, ffi::AnyBuffer rec, ffi::AnyBuffer nsteps,
                                 ffi::Result<ffi::AnyBuffer> p_o, ffi::Result<ffi::AnyBuffer> pp_o,
                                 ffi::Result<ffi::AnyBuffer> psi_o,
                                 ffi::Result<ffi::AnyBuffer> zeta_o,
                                 ffi::Result<ffi::AnyBuffer> recs_o,
                                 ffi::Result<ffi::AnyBuffer> psi_t, ffi::Result<ffi::AnyBuffer> W_o,
                                 int64_t ndim, int64_t order, int64_t abcn, bool free_surface) {
    return run(ctx..., ForwardArgs{{ndim, order, abcn, free_surface}, p, pp, psi, zeta, V, prof,
                                   coef, amp, src, rec, nsteps, &p_o, &pp_o, &psi_o, &zeta_o,
                                   &recs_o, &psi_t, &W_o});
  }

  static ffi::Error adjoint(Ctx... ctx, ffi::AnyBuffer X, ffi::AnyBuffer Y, ffi::AnyBuffer psi,
                            ffi::AnyBuffer zeta, ffi::AnyBuffer V, ffi::AnyBuffer prof,
                            ffi::AnyBuffer coef, ffi::AnyBuffer W, ffi::AnyBuffer rbar,
                            ffi::AnyBuffer src, ffi::AnyBuffer rec, ffi::AnyBuffer nsteps,
                            ffi::Result<ffi::AnyBuffer> X_o, ffi::Result<ffi::AnyBuffer> Y_o,
                            ffi::Result<ffi::AnyBuffer> psi_o, ffi::Result<ffi::AnyBuffer> zeta_o,
                            ffi::Result<ffi::AnyBuffer> gV_o, ffi::Result<ffi::AnyBuffer> gamp_o,
                            ffi::Result<ffi::AnyBuffer> psi_t, ffi::Result<ffi::AnyBuffer> zeta_t,
                            int64_t ndim, int64_t order, int64_t abcn, bool free_surface) {
    const AdjointArgs a{{ndim, order, abcn, free_surface}, X, Y, psi, zeta, V, prof, coef, W, rbar,
                        src, rec, nsteps, &X_o, &Y_o, &psi_o, &zeta_o, &gV_o, &gamp_o, &psi_t,
                        &zeta_t};
    return dispatch_float({V.element_type(), X.element_type(), Y.element_type(), psi.element_type(),
                           zeta.element_type(), prof.element_type(), coef.element_type(),
                           W.element_type(), rbar.element_type()},
                          [&](auto x) { return Kernels::template adjoint<decltype(x)>(ctx..., a); });
  }

 private:
  static ffi::Error run(Ctx... ctx, const ForwardArgs& a) {
    return dispatch_float({a.V.element_type(), a.p.element_type(), a.pp.element_type(),
                           a.psi.element_type(), a.zeta.element_type(), a.prof.element_type(),
                           a.coef.element_type(), a.amp.element_type()},
                          [&](auto x) { return Kernels::template forward<decltype(x)>(ctx..., a); });
  }
};

}  // namespace sweep::acoustic

// Defines SweepAcoustic{Forward,ForwardSave,Adjoint}<SUFFIX> over ENTRY (an Entry<...> type),
// with the binding's context CTX and optional handler traits.
#define SWEEP_ACOUSTIC_HANDLERS(SUFFIX, ENTRY, CTX, ...)                                     \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticForward##SUFFIX, ENTRY::forward,                 \
                                SWEEP_FORWARD_BIND(CTX) SWEEP_ATTRS, ##__VA_ARGS__);         \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticForwardSave##SUFFIX, ENTRY::forward_save,        \
                                SWEEP_FORWARD_BIND(CTX).Ret<xla::ffi::AnyBuffer>() /* W */   \
                                    SWEEP_ATTRS,                                             \
                                ##__VA_ARGS__);                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticAdjoint##SUFFIX, ENTRY::adjoint,                 \
                                SWEEP_ADJOINT_BIND(CTX) SWEEP_ATTRS, ##__VA_ARGS__);
