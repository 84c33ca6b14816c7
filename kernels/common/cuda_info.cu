// Facts about the CUDA runtime the core was built with (for sweep.backend diagnostics).
// The CUDA kernels themselves live beside each equation's CPU kernels.
#include <cuda_runtime_api.h>

int sweep_cuda_runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) return 0;
  return v;
}
