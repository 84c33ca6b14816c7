// XLA FFI bindings of the three acoustic chunk targets, shared by the CPU and CUDA handlers:
// SWEEP_ACOUSTIC_HANDLERS(Cpu, ) or SWEEP_ACOUSTIC_HANDLERS(Cuda, .Ctx<stream>(), traits) defines
// SweepAcousticForward<Suffix>, SweepAcousticForwardSave<Suffix>, SweepAcousticAdjoint<Suffix>
// over sweep::acoustic::{Forward, ForwardSave, Adjoint} of the including file.
#pragma once

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

#define SWEEP_ACOUSTIC_HANDLERS(SUFFIX, CTX, ...)                                           \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticForward##SUFFIX, sweep::acoustic::Forward,      \
                                SWEEP_FORWARD_BIND(CTX) SWEEP_ATTRS, ##__VA_ARGS__);         \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticForwardSave##SUFFIX, sweep::acoustic::ForwardSave, \
                                SWEEP_FORWARD_BIND(CTX).Ret<xla::ffi::AnyBuffer>() /* W */   \
                                    SWEEP_ATTRS,                                             \
                                ##__VA_ARGS__);                                              \
  XLA_FFI_DEFINE_HANDLER_SYMBOL(SweepAcousticAdjoint##SUFFIX, sweep::acoustic::Adjoint,      \
                                SWEEP_ADJOINT_BIND(CTX) SWEEP_ATTRS, ##__VA_ARGS__);
