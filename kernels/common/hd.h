// Marks code that both the CPU kernels and the CUDA kernels compile.
#pragma once

#if defined(__CUDACC__)
#define SWEEP_HD __host__ __device__
#define SWEEP_IVDEP
#else
#define SWEEP_HD
#define SWEEP_IVDEP _Pragma("GCC ivdep")
#endif

namespace sweep {

template <typename T>
SWEEP_HD inline T clamp(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// *p += v; atomic on the GPU, where shots sharing a model accumulate into it concurrently.
template <typename T>
SWEEP_HD inline void accumulate(T* p, T v) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, v);
#else
  *p += v;
#endif
}

}  // namespace sweep
