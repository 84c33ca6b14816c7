// The compiled core, sweep._C: XLA FFI handler capsules and build facts.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <string>

#include "xla/ffi/api/c_api.h"
#include "xla/ffi/api/ffi.h"

namespace nb = nanobind;
namespace ffi = xla::ffi;

// sweep_uninitialized: a result buffer left as XLA allocates it (no fill), for a stack whose
// every element is written before it is read. Nothing to run, on either platform; safe in a
// CUDA graph.
XLA_FFI_DEFINE_HANDLER_SYMBOL(
    SweepUninitialized, [](ffi::Result<ffi::AnyBuffer>) { return ffi::Error::Success(); },
    ffi::Ffi::Bind().Ret<ffi::AnyBuffer>(), {ffi::Traits::kCmdBufferCompatible});

XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardSaveCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardStoreCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticAdjointCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardScratchCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardSaveScratchCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardStoreScratchCpu);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticAdjointScratchCpu);

#if SWEEP_WITH_CUDA
int sweep_cuda_runtime_version();
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardSaveCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardStoreCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticAdjointCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardScratchCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardSaveScratchCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticForwardStoreScratchCuda);
XLA_FFI_DECLARE_HANDLER_SYMBOL(SweepAcousticAdjointScratchCuda);
#endif

namespace {

template <typename F>
nb::capsule capsule(F* fn) {
  return nb::capsule(reinterpret_cast<void*>(fn));
}

}  // namespace

NB_MODULE(_C, m) {
  m.doc() = "sweep compiled core: XLA FFI handlers";
  // {platform: {target name: handler capsule}}
  m.def("registrations", []() {
    nb::dict cpu;
    cpu["sweep_acoustic_forward"] = capsule(SweepAcousticForwardCpu);
    cpu["sweep_acoustic_forward_save"] = capsule(SweepAcousticForwardSaveCpu);
    cpu["sweep_acoustic_forward_store"] = capsule(SweepAcousticForwardStoreCpu);
    cpu["sweep_acoustic_adjoint"] = capsule(SweepAcousticAdjointCpu);
    cpu["sweep_acoustic_forward_scratch"] = capsule(SweepAcousticForwardScratchCpu);
    cpu["sweep_acoustic_forward_save_scratch"] = capsule(SweepAcousticForwardSaveScratchCpu);
    cpu["sweep_acoustic_forward_store_scratch"] = capsule(SweepAcousticForwardStoreScratchCpu);
    cpu["sweep_acoustic_adjoint_scratch"] = capsule(SweepAcousticAdjointScratchCpu);
    cpu["sweep_uninitialized"] = capsule(SweepUninitialized);
    nb::dict out;
    out["cpu"] = cpu;
#if SWEEP_WITH_CUDA
    nb::dict cuda;
    cuda["sweep_acoustic_forward"] = capsule(SweepAcousticForwardCuda);
    cuda["sweep_acoustic_forward_save"] = capsule(SweepAcousticForwardSaveCuda);
    cuda["sweep_acoustic_forward_store"] = capsule(SweepAcousticForwardStoreCuda);
    cuda["sweep_acoustic_adjoint"] = capsule(SweepAcousticAdjointCuda);
    cuda["sweep_acoustic_forward_scratch"] = capsule(SweepAcousticForwardScratchCuda);
    cuda["sweep_acoustic_forward_save_scratch"] = capsule(SweepAcousticForwardSaveScratchCuda);
    cuda["sweep_acoustic_forward_store_scratch"] = capsule(SweepAcousticForwardStoreScratchCuda);
    cuda["sweep_acoustic_adjoint_scratch"] = capsule(SweepAcousticAdjointScratchCuda);
    cuda["sweep_uninitialized"] = capsule(SweepUninitialized);
    out["CUDA"] = cuda;
#endif
    return out;
  });
  m.def("build_info", []() {
    nb::dict d;
    d["ffi_api"] = std::to_string(XLA_FFI_API_MAJOR) + "." + std::to_string(XLA_FFI_API_MINOR);
#if SWEEP_WITH_CUDA
    d["cuda"] = true;
    d["cuda_archs"] = std::string(SWEEP_CUDA_ARCHS);
    d["cuda_runtime"] = sweep_cuda_runtime_version();
#else
    d["cuda"] = false;
    d["cuda_archs"] = std::string();
    d["cuda_runtime"] = 0;
#endif
#ifdef _OPENMP
    d["openmp"] = true;
#else
    d["openmp"] = false;
#endif
    d["compiler"] = std::string(__VERSION__);
    d["equations"] = nb::make_tuple("acoustic");
    return d;
  });
}
