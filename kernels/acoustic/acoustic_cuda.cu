// CUDA (XLA FFI, platform "CUDA") chunk kernels for the constant-density acoustic equation,
// behind the same targets and operands as the CPU kernels (acoustic_cpu.cc). The per-cell work
// is the shared row code (acoustic_rows.h): a step kernel's blocks either run the interior box's
// fused update (a column of cells per thread) or the per-cell form of the banded rows
// (pml_*_cell, cell_terms) on the frame around it, one thread per cell, so both devices compute
// the same operations. Where the rows are whole 16-byte vectors (vector_rows), the box's threads
// and the frame's take a vector of cells along x each (the frame's at the rows' ends storing only
// their lanes inside the updated cells).
// Everything runs on XLA's stream; nothing waits for the device: the runtime step count
// `nsteps` is read by the kernels, and steps past it leave the buffers alone but for one swap of
// the ping-pong pairs' contents where K - nsteps is odd, so that the host can alternate them
// blindly (Call::swaps_past_end). A call steps its shots in groups sized to stay in L2
// (common/shot_groups.h), all K steps of a group before the next.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <type_traits>
#include <mutex>
#include <string>
#include <utility>

#include "acoustic/acoustic_bindings.h"
#include "acoustic/acoustic_layout.h"
#include "acoustic/acoustic_rows.h"
#include "common/batch.h"
#include "common/grid.h"
#include "common/lanes.h"
#include "common/shot_groups.h"
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

constexpr int kTileX = 32, kTileRows = 8;  // interior kernel block: x by rows (z, or z*y in 3D)
// Cells per box thread along z (the z neighbours it loads serve them all). 4 against 1 on the
// H100: 2D 1000^2 x 4 shots forward 71.9 -> 68.6 ms, gradient 262 -> 250 ms; 2D 500^2 in a
// fused launch (2026-11-23) forward 8.35 -> 8.0 ms, full-storage gradient 25.6 -> 23.3 ms.
constexpr int kRZ = 4;

// Box threads on 16-byte vectors (Vec<T>::n cells along x each) where the rows allow it
// (vector_rows): a quarter of the threads, and of the load instructions, for the same cells.
// Such a thread takes kVRZ cells along z: 4 against 2 on the H100 (2026-11-24, forward / full-
// storage gradient) 2D 1000^2 x 4 34.5 / 89.6 -> 33.3 / 87.4 ms, 3D 200^3 97.9 / 234.5 -> 96.0 /
// 232.4 ms, 2D 500^2 6.4-7.0 / 13.9-14.5 -> 5.7 / 13.9-14.3 ms, for 8 more bytes of spills in
// the fused float32 forward.
constexpr int kVRZ = 4;

// The frame: the updated cells (Grid::update_range) outside the interior box, as up to six boxes
// (the z slabs, then the y slabs and the x strips between them), enumerated so that a launch
// covers only them. Where the box runs on vectors of n cells along x, so does all of the frame
// (vectors(...); there x counts vectors from the box's first cell): the aligned vectors that hold
// an updated cell, those that straddle an end of the updated x range storing their lanes inside
// only (lanes_inside), and none goes one cell per thread (make_call). Until the
// eighteenth session such row ends went one cell per thread, in a form whose loads do not
// coalesce: orders 2, 4 and 6 at every grid, and order 8 wherever the rows pad.
struct Frame {
  static constexpr int kMax = 6;
  int n = 0;
  int64_t lo[kMax][3], hi[kMax][3];
  int64_t start[kMax + 1] = {0};

  static Frame of(const Grid& g, const Box& b, bool physical_only) {
    int64_t lo[3], hi[3];
    g.update_range(physical_only, lo, hi);
    return pieces(b, lo, hi);
  }
  // b: not empty, its x range whole vectors of n cells.
  static Frame vectors(const Grid& g, const Box& b, bool physical_only, int64_t n) {
    int64_t lo[3], hi[3];
    g.update_range(physical_only, lo, hi);
    // the vectors holding an updated cell, counted from the box's first cell (aligned: make_call)
    lo[2] = lo[2] / n - b.lo[2] / n;
    hi[2] = (hi[2] + n - 1) / n - b.lo[2] / n;
    Box v = b;
    v.lo[2] = 0;
    v.hi[2] = (b.hi[2] - b.lo[2]) / n;
    return pieces(v, lo, hi);
  }

 private:
  // The cells of [full_lo, full_hi) outside the box b: per axis a, the cells inside b on the
  // axes before a, outside it on a, anything after.
  static Frame pieces(const Box& b, const int64_t* full_lo, const int64_t* full_hi) {
    Frame f;
    if (b.empty()) {
      f.add(full_lo, full_hi);
      return f;
    }
    for (int a = 0; a < 3; ++a) {
      int64_t lo[3], hi[3];
      for (int i = 0; i < 3; ++i) {
        lo[i] = i < a ? b.lo[i] : full_lo[i];
        hi[i] = i < a ? b.hi[i] : full_hi[i];
      }
      hi[a] = b.lo[a];
      f.add(lo, hi);
      lo[a] = b.hi[a];
      hi[a] = full_hi[a];
      f.add(lo, hi);
    }
    return f;
  }
  void add(const int64_t* l, const int64_t* h) {
    int64_t count = 1;
    for (int a = 0; a < 3; ++a) count *= std::max<int64_t>(0, h[a] - l[a]);
    if (count == 0) return;
    for (int a = 0; a < 3; ++a) lo[n][a] = l[a], hi[n][a] = h[a];
    start[n + 1] = start[n] + count;
    ++n;
  }

 public:
  SWEEP_HD int64_t cells() const { return start[n]; }

  // The i-th frame cell (i < cells()).
  __device__ void cell(int64_t i, int64_t c[3]) const {
    int q = 0;
    while (i >= start[q + 1]) ++q;
    uint32_t r = uint32_t(i - start[q]);  // 32-bit: a frame piece holds < 2^32 cells
    const uint32_t nx = uint32_t(hi[q][2] - lo[q][2]), ny = uint32_t(hi[q][1] - lo[q][1]);
    c[2] = lo[q][2] + r % nx;
    r /= nx;
    c[1] = lo[q][1] + r % ny;
    c[0] = lo[q][0] + r / ny;
  }
};

// A step's blocks, 256 threads each (32 x 8 where they tile the interior box), the shot in
// blockIdx.y: the first `frame` blocks update the frame's cells, one per thread; the next
// `vframe` blocks its vectors, one per thread (only where the box runs on vectors); the rest the
// interior box, a column of cells along z per thread, x tiles fastest. They run as one launch,
// or as two (the frame's cells, then its vectors and the box): see StepLaunch.
constexpr int kStepBlock = kTileX * kTileRows;

struct StepBlocks {
  unsigned frame = 0, vframe = 0, tiles_x = 0, total = 0;  // frame, vframe blocks, box x tiles, all
  unsigned first = 0;  // the launch's first block (a launch of the box alone starts at `frame`)
  bool reverse = false;  // blocks and shots taken last to first (StepLaunch: odd steps)
  int64_t first_shot = 0;  // the launch's first shot (Call::first_shot, set by StepLaunch)

  // xw, rz: cells per box thread along x and z.
  static StepBlocks of(const Frame& f, const Frame& vf, const Box& b, int xw, int rz) {
    StepBlocks r;
    r.frame = unsigned((f.cells() + kStepBlock - 1) / kStepBlock);
    r.vframe = unsigned((vf.cells() + kStepBlock - 1) / kStepBlock);
    r.total = r.frame + r.vframe;
    if (b.empty()) return r;
    const int64_t rows = (b.hi[0] - b.lo[0] + rz - 1) / rz * (b.hi[1] - b.lo[1]);
    r.tiles_x = unsigned((b.hi[2] - b.lo[2] + kTileX * xw - 1) / (kTileX * xw));
    r.total += r.tiles_x * unsigned((rows + kTileRows - 1) / kTileRows);
    return r;
  }
  dim3 grid(int64_t nshot) const { return dim3(total - first, unsigned(nshot)); }
  __device__ unsigned block() const {
    return first + (reverse ? gridDim.x - 1 - blockIdx.x : blockIdx.x);
  }
  __device__ int64_t shot() const {
    return first_shot + (reverse ? gridDim.y - 1 - blockIdx.y : blockIdx.y);
  }
};

__device__ inline int thread_rank() { return threadIdx.y * blockDim.x + threadIdx.x; }

// Programmatic dependent launch (sm_90 and later; `Launch`): a kernel of a call may be launched
// while the kernel before it in the stream still runs, so that its launch and its blocks' start
// hide behind the other's last blocks. Every kernel here waits until the one before has finished
// and its writes are visible, then lets the next one launch; before the wait it may only read
// what no kernel of the call writes (the inputs: the model, indices, amplitudes, cotangents).
__device__ inline void follow_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Launches on a call's stream: kernel<<<grid, block, 0, stream>>>(args...), as a programmatic
// dependent launch where `early` (dependent_launches: the kernels wait for the one before). H100,
// 2026-11-24: 2D 1000^2 x 4 forward 37.5 -> 36.5 ms; 2D 500^2 forward 8.15 -> 7.8 ms,
// full-storage gradient 18.6 -> 17.3 ms; 3D 200^3, whose steps are long, unchanged.
struct Launch {
  cudaStream_t stream;
  bool early;

  template <typename... Params, typename... Args>
  void operator()(void (*kernel)(Params...), dim3 grid, dim3 block, Args&&... args) const {
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.stream = stream;
    cfg.attrs = &attr;
    cfg.numAttrs = early ? 1 : 0;
    cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
  }
};

// A frame thread's cell (for a vector, its first), c and its index j, if
// it has one (valid).
struct Cell {
  int64_t c[3], j;
  bool valid;
};

// The cell of the i-th thread of the frame's blocks, in a frame f whose x counts cells of `xw`
// from x0 (the frame's vectors: from the box's first cell).
__device__ Cell frame_cell(const Grid& g, const Frame& f, int64_t i, int64_t x0 = 0, int xw = 1) {
  Cell r;
  r.valid = i < f.cells();
  if (!r.valid) return r;
  f.cell(i, r.c);
  r.c[2] = x0 + r.c[2] * xw;
  r.j = r.c[0] * g.ax[0].stride + r.c[1] * g.ax[1].stride + r.c[2];
  return r;
}

// Step kernels' launch bounds: the blocks of 256 threads per multiprocessor they ask for, which
// set their registers. Chosen where they ran fastest on the H100 (2026-11-23). Unbounded, the
// frame's per-cell form took 56 (forward) and 86 (adjoint) float32 registers and the box's
// columns 64 to 90, so fewer blocks fit; bounded more tightly they spill and slow down. A fused
// launch takes the frame's bound: forward 6 blocks (40 registers) against 5 (48), 2D 1000^2 x 4
// 64.9 -> 63.3 ms; adjoint 4 or 5 measured the same. float64 gets half the blocks.
struct Bounds {
  int fused, frame, box;
  int vec;  // fused or box, with the box on vectors
};
enum class Part { kAll, kFrame, kBox };  // what a step kernel's blocks can be: frame, box or both
constexpr Bounds kForwardBounds{6, 6, 5, 3};
constexpr Bounds kAdjointBounds{4, 4, 5, 3};

template <typename T>
constexpr int min_blocks(int float32_blocks) {
  return sizeof(T) == 4 ? float32_blocks : std::max(1, float32_blocks / 2);
}

// A launch bound of b blocks, within what a multiprocessor of the architecture being compiled
// holds: Turing's hold 1024 threads (4 blocks; ptxas ignores a larger bound), the others 1536 or
// 2048. Only the bound depends on the architecture, never a kernel's template arguments.
constexpr int arch_blocks(int b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 750
  return std::min(b, 1024 / kStepBlock);
#else
  return b;
#endif
}

// What every step kernel of a call shares.
template <typename T>
struct Call {
  Grid g;
  int64_t nshot, K, nrec;
  int64_t first_shot = 0, shots = 0;  // the shot group that the launches take (in_groups)
  const T* coef;
  const T* V;
  BatchMap mV;
  const T* prof;
  BatchMap mprof;
  Indices src, rec, nsteps;
  Indices w0;      // the call's first step in W (null: 0); w0 + K <= wsteps is the caller's
                   // to keep (read here on the device; the CPU handler checks it)
  int64_t wsteps;  // W's steps per shot
  BatchMap msrc, mrec;
  RowSplit split;  // with the interior box
  int64_t x_lo, x_hi;  // the updated cells along x (Grid::update_range)
  bool vec;        // box threads on vectors (vector_rows)
  bool settles = false;  // steps past the count leave everything to settle_kernel (blocked calls)
  Frame frame, vframe;  // the frame one cell a thread, or on vectors (make_call): one is empty

  __device__ int64_t first_w() const { return w0.p ? w0[0] : 0; }
  // The shot of a launch's i-th block along the shots (blockIdx.y, or x for one block a shot).
  __device__ int64_t shot(int64_t i) const { return first_shot + i; }

  // Whether step t, past the runtime count (t >= nsteps), swaps the ping-pong pairs' contents:
  // once where K - nsteps is odd, so that the state ends where the host, which alternates the
  // buffers K times, looks for it; at the forward's first step past the count, at the adjoint's
  // first step (t = K - 1: it walks back). Every other step past the count returns at once.
  // (Swapping at every one cost as much as a step: H100, 3D 200^3 full-storage gradient with 49
  // of 448 steps past the count, 90 of 392 ms.)
  __device__ bool swaps_past_end(int64_t t, bool adjoint) const {
    const int64_t n = nsteps[0];
    return !settles && (K - n) % 2 && t == (adjoint ? K - 1 : n);
  }
};

// Whether box threads can work on vectors: rows a whole number of vectors long (so that every
// row, and every shot's block of a batched operand, starts aligned where the operand does), and
// the fields that the box and the frame read and write by vector aligned.
template <typename T>
bool vector_rows(const Grid& g, std::initializer_list<const void*> fields) {
  if (g.ax[2].size % Vec<T>::n) return false;
  for (const void* p : fields)
    if (reinterpret_cast<uintptr_t>(p) % 16) return false;
  return true;
}

// `reach`: how far past the PML the step's PML terms reach (Box::of); `fields`: the model and
// the state buffers the steps read and write (vector_rows); `physical_only`: the step updates only
// the physical model's cells (ForwardArgs).
template <typename T>
Call<T> make_call(const Layout& c, ffi::AnyBuffer coef, ffi::AnyBuffer V, ffi::AnyBuffer prof,
                  ffi::AnyBuffer src, ffi::AnyBuffer rec, ffi::AnyBuffer nsteps,
                  const ffi::AnyBuffer* w0, int64_t wsteps, int64_t reach,
                  std::initializer_list<const void*> fields, bool physical_only = false) {
  Call<T> k;
  k.g = c.grid;
  k.nshot = k.shots = c.nshot;
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
  if (w0) k.w0 = indices(*w0);
  k.wsteps = wsteps;
  k.msrc = c.src;
  k.mrec = c.rec;
  k.split = RowSplit::of(c.grid, reach);
  int64_t lo[3], hi[3];
  c.grid.update_range(physical_only, lo, hi);
  k.x_lo = lo[2];
  k.x_hi = hi[2];
  k.vec = vector_rows<T>(c.grid, fields);
  const int64_t n = k.vec ? Vec<T>::n : 1;
  Box& b = k.split.box;  // on vectors, its x range to whole ones; the frame's vectors take the rest
  if (k.vec) b = b.x_vectors(n, b.lo[2], b.hi[2]);
  if (k.vec && !b.empty())
    k.vframe = Frame::vectors(c.grid, b, physical_only, n);  // every frame cell
  else
    k.frame = Frame::of(c.grid, b, physical_only);  // one cell a thread
  return k;
}

template <typename T>
__device__ void swap_cells(T* a, T* b, int64_t j) {
  const T t = a[j];
  a[j] = b[j];
  b[j] = t;
}

// Odd mirror image above the free surface, for every shot, before step t (none past the
// runtime count: the field there need not be the state's current one).
template <typename T>
__global__ void mirror_kernel(Grid g, T* field, Indices nsteps, int64_t t) {
  follow_previous_kernel();
  const int64_t plane = g.ax[0].stride;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= plane * g.half || t >= nsteps[0]) return;
  const int64_t m = 1 + i / plane, e = i % plane;
  T* u = field + int64_t(blockIdx.y) * g.cells;
  u[(g.half - m) * plane + e] = -u[(g.half + m) * plane + e];
}

template <typename T>
void mirror(const Call<T>& k, T* field, int64_t t, const Launch& launch) {
  const int64_t n = k.g.ax[0].stride * k.g.half;
  launch(mirror_kernel<T>, dim3(unsigned((n + 255) / 256), unsigned(k.shots)), dim3(256), k.g,
         field + k.first_shot * k.g.cells, k.nsteps, t);
}

// Swap the ping-pong pair of per-axis fields at j (Call::swaps_past_end).
template <typename T>
__device__ void swap_axes(const T* aux, T* aux_n, int nd, int64_t cells, int64_t j) {
  for (int i = 0; i < nd; ++i) swap_cells(const_cast<T*>(aux) + i * cells, aux_n + i * cells, j);
}

// The forward's source and receivers. The source is added to the new field by the thread that
// updates its cell, right after the update (sources lie on updated cells: validate.locations).
// The receivers of step t read the field after step t, which step t + 1 leaves alone: the first
// frame block of each shot records them during step t + 1 (no launch of its own), and a tail
// kernel records the chunk's last step.
template <typename T>
struct Sources {
  const T* amp;
  BatchMap mamp;
  T* recs;

  __device__ int64_t cell(const Call<T>& k, int64_t s) const { return k.src[k.msrc.offset(s)]; }
  // Records step t of shot s from u (the shot's field after step t), the block's threads in turn.
  __device__ void record(const Call<T>& k, int64_t s, int64_t t, const T* u, bool active) const {
    const int64_t tid = thread_rank(), n = blockDim.x * blockDim.y;
    const int64_t ro = tid < k.nrec ? k.mrec.offset(s) : 0;
    for (int64_t r = tid; r < k.nrec; r += n)
      recs[(s * k.K + t) * k.nrec + r] = active ? u[k.rec[ro + r]] : T(0);
  }
};

// Per-block constants, in shared memory: the stencil, and N offsets of the block's shot into
// batched operands that offsets(off) computes in the block's first thread (the BatchMap's 64-bit
// divisions then run once per block instead of once per cell; on its own this changed no
// measured time on the H100). Every thread of the block calls it: it synchronises. Returns the
// stencil's shared copy, for Stencil::load where it is used (loaded early, its coefficients
// would hold registers through the kernel).
template <typename T, int H, int N, typename Offsets>
__device__ const T* block_constants(const T* coef, int64_t (&off_s)[N], Offsets&& offsets) {
  __shared__ T coef_s[2 * (H + 1)];
  const int tid = thread_rank();
  if (tid < 2 * (H + 1)) coef_s[tid] = coef[tid];
  if (tid == 0) offsets(off_s);
  __syncthreads();
  return coef_s;
}

// Cells of a box thread: x from the tile's x index, a (z group, y) row from its row index
// (32-bit arithmetic). The thread updates RZ cells along z from z = c[0] (n of them inside the
// box), each XW cells along x from c[2] (all inside the box). sb was counted with the same.
struct InteriorCells {
  int64_t c[3];
  int64_t j;
  int n;
};

template <int XW, int RZ>
__device__ InteriorCells interior_cells(const Grid& g, const Box& b, const StepBlocks& sb) {
  InteriorCells r;
  const unsigned tile = sb.block() - sb.frame - sb.vframe;
  const uint32_t ny = uint32_t(b.hi[1] - b.lo[1]), nz = uint32_t(b.hi[0] - b.lo[0]);
  const uint32_t row = (tile / sb.tiles_x) * kTileRows + threadIdx.y;
  r.c[2] = b.lo[2] + (int64_t(tile % sb.tiles_x) * kTileX + threadIdx.x) * XW;
  const uint32_t z = (row / ny) * RZ;
  r.c[0] = b.lo[0] + z;
  r.c[1] = b.lo[1] + row % ny;
  r.n = r.c[2] < b.hi[2] && z < nz ? int(min(uint32_t(RZ), nz - z)) : 0;
  r.j = r.c[0] * g.ax[0].stride + r.c[1] * g.ax[1].stride + r.c[2];
  return r;
}

// The cells of a frame thread: one cell (U = T), or a vector.
template <typename T, typename U>
__device__ Cell frame_cell(const Call<T>& k, const StepBlocks& sb) {
  if constexpr (std::is_same_v<U, T>)
    return frame_cell(k.g, k.frame, int64_t(sb.block()) * kStepBlock + thread_rank());
  else
    return frame_cell(k.g, k.vframe, int64_t(sb.block() - sb.frame) * kStepBlock + thread_rank(),
                      k.split.box.lo[2], U::n);
}

// A forward step's frame part: the rows' banded sum per cell (lean: few registers instead of the
// whole row code's 96), on a cell (U = T) or a vector (U = Vec<T>).
template <typename T, int H, typename U>
__device__ void forward_frame(const Call<T>& k, const StepBlocks& sb, const T* coef,
                              const int64_t* off, int64_t t, const T* p, T* pp, T* out,
                              const T* psi, T* psi_n, T* zeta, T* W, const Sources<T>& src) {
  constexpr int n = lanes<T, U>();
  const Cell cell = frame_cell<T, U>(k, sb);
  if (!cell.valid) return;
  const Grid& g = k.g;
  const int64_t s = sb.shot(), nd = g.ndim, cells = g.cells, j = cell.j;
  p += s * cells;
  pp += s * cells;
  out += s * cells;
  psi += s * nd * cells;
  psi_n += s * nd * cells;
  const LaneMask lm = lanes_inside<n>(cell.c[2], k.x_lo, k.x_hi);
  if (t >= k.nsteps[0]) {
    if (!k.swaps_past_end(t, false)) return;
    for (int i = 0; i < n; ++i) {
      if (!has_lane(lm, i)) continue;
      swap_cells(const_cast<T*>(p), pp, j + i);
      swap_axes(psi, psi_n, nd, cells, j + i);
    }
    return;
  }
  const StepCtx<T, H> f{g, Stencil<T, H>::load(coef), k.V + off[0], k.prof + off[1], k.split};
  const U a =
      forward_cell<T, H, U>(f, cell.c, j, p, pp, out, psi, psi_n, zeta + s * nd * cells, lm);
  if (off[3] >= j && off[3] < j + n) out[off[3]] += src.amp[off[2] + t];
  if (W) st_stream(W + off[6] + t * g.wcells + g.w_index(cell.c), a, lm);
}

// A forward step's box part (interior_forward's fused update, a column per thread, on vectors
// for VEC), plus the source where it lies in the thread's cells.
template <typename T, int H, bool VEC>
__device__ void forward_box(const Call<T>& k, const StepBlocks& sb, const T* coef,
                            const int64_t* off, int64_t t, const T* p, T* pp, const T* psi,
                            T* psi_n, T* W, const Sources<T>& src) {
  const int64_t s = sb.shot(), nd = k.g.ndim, cells = k.g.cells, sz = k.g.ax[0].stride;
  using U = std::conditional_t<VEC, Vec<T>, T>;
  constexpr int XW = lanes<T, U>(), RZ = VEC ? kVRZ : kRZ;
  const InteriorCells cell = interior_cells<XW, RZ>(k.g, k.split.box, sb);
  if (!cell.n) return;
  p += s * cells;
  pp += s * cells;
  if (t >= k.nsteps[0]) {
    if (!k.swaps_past_end(t, false)) return;
    for (int r = 0; r < cell.n; ++r)
      for (int i = 0; i < XW; ++i) {
        swap_cells(const_cast<T*>(p), pp, cell.j + r * sz + i);
        swap_axes(psi + s * nd * cells, psi_n + s * nd * cells, nd, cells, cell.j + r * sz + i);
      }
    return;
  }
  T* Wt = W ? W + off[6] + t * k.g.wcells + k.g.w_index(cell.c) : nullptr;
  const int64_t wz = k.g.ax[0].wstride;
  const T* V = k.V + off[0];
  // The source's row and x offset in this thread's cells (row -1: not there), worked out first:
  // fewer live registers.
  const int64_t r = off[4] - cell.c[0], dx = off[5] - (cell.j - cell.c[0] * sz);
  const int src_row = r >= 0 && r < cell.n && dx >= 0 && dx < XW ? int(r) : -1;
  interior_forward_column<T, H, RZ, U>(
      Stencil<T, H>::load(coef), k.split.outer_strides, k.split.nouter, p, pp, V, Wt, wz, cell.j,
      cell.n);
  if (src_row >= 0) pp[cell.j + src_row * sz + (XW > 1 ? dx : 0)] += src.amp[off[2] + t];
}

// Forward step t over blocks [first, first + gridDim.x) of the step's blocks (StepBlocks), the
// part P of them (kBox: the frame's vectors and the box), the frame's and the box's threads on
// vectors for VEC (Call::vec). Block 0 also records the receivers of step t - 1 from p, which
// this step only reads (a launch of the box never holds block 0: kFuseWaves and Frame; leaving
// the records out of it keeps its registers from spilling). The frame writes the next field to
// `out`: pp, but in a temporally blocked pass (forward_pass), whose frame steps write it beside
// the fields they read.
template <typename T, int H, int MinBlocks, Part P, bool VEC>
__global__ void __launch_bounds__(kStepBlock, arch_blocks(MinBlocks))
    forward_step(Call<T> k, StepBlocks sb, int64_t t, const T* p, T* pp, T* out, const T* psi,
                 T* psi_n, T* zeta, T* W, Sources<T> src) {
  const int64_t s = sb.shot();
  const bool in_frame = P == Part::kFrame || (P == Part::kAll && sb.block() < sb.frame);
  // V, profiles, source amplitudes, the source's cell, for the box its z and its cell in that z
  // plane, and the shot's W at the call's first step
  __shared__ int64_t off[7];
  const T* coef = block_constants<T, H>(k.coef, off, [&](int64_t* o) {
    o[0] = k.mV.offset(s);
    o[1] = k.mprof.offset(s);
    o[2] = src.mamp.offset(s);
    o[3] = src.cell(k, s);
    if (!in_frame) {
      o[4] = o[3] / k.g.ax[0].stride;
      o[5] = o[3] - o[4] * k.g.ax[0].stride;
    }
    o[6] = (s * k.wsteps + k.first_w()) * k.g.wcells;
  });
  follow_previous_kernel();  // the constants are inputs, read while the step before ends
  if (P != Part::kBox && sb.block() == 0 && t > 0 && t < k.nsteps[0])
    src.record(k, s, t - 1, p + s * k.g.cells, true);
  if (in_frame) {
    if constexpr (P != Part::kBox)
      forward_frame<T, H, T>(k, sb, coef, off, t, p, pp, out, psi, psi_n, zeta, W, src);
  } else if constexpr (P != Part::kFrame) {
    if (VEC && sb.block() < sb.frame + sb.vframe) {
      if constexpr (VEC)
        forward_frame<T, H, Vec<T>>(k, sb, coef, off, t, p, pp, out, psi, psi_n, zeta, W, src);
    } else {
      forward_box<T, H, VEC>(k, sb, coef, off, t, p, pp, psi, psi_n, W, src);
    }
  }
}

// Temporal blocking (2D, the box on vectors): steps t and t + 1 of the interior box in one pass
// over it, so that the box's fields cross DRAM once per two steps (p_t, p_{t-1} and V read,
// p_{t+1} and p_{t+2} written: 20 bytes per cell against 32). A block takes a tile of kTileX
// vectors by kPassTileRows rows: phase 1 computes p_{t+1} on the tile and `half` cells around it
// (the cells of the box; the others, the frame's and the halo's, it reads from q1, where the
// frame's step t has written them) into shared memory, and writes the tile's to q1; phase 2
// computes p_{t+2} on the tile from shared memory and writes it to q2. Blocks read the cells
// around their tiles while others write theirs, so the new fields go to q1 and q2, beside p and
// pp (the call's spare fields: CudaKernels::forward). Both phases are the shared
// interior_column on a Vec, and the source is added in every tile that computes its cell.
constexpr int kPassTileRows = kTileRows * kVRZ;  // a phase-2 thread takes kVRZ rows, as the box's
constexpr int kPassRows = 6;                     // rows per phase-1 thread (one round of them)
constexpr int kPassBlocks = 2;                   // launch bound, float32 blocks per multiprocessor

template <typename T, int H>
struct PassTile {
  static constexpr int n = Vec<T>::n, L = (H + n - 1) / n;        // L vectors of x halo
  static constexpr int cols = kTileX + 2 * L, rows = kPassTileRows + 2 * H;  // phase 1's
  static constexpr int width = cols * n;                          // shared cells per row
  static_assert(cols * ((rows + kPassRows - 1) / kPassRows) <= kStepBlock,
                "phase 1 takes one round of the block's threads");
};

// The fields of a pass (steps t and t + 1).
template <typename T>
struct PassFields {
  int64_t t;
  const T *p, *pp;  // p_t, p_{t-1}
  T *q1, *q2;       // <- p_{t+1}, p_{t+2}
};

// One pass over tile (tx, tz) of shot s; off: the shot's offsets of V and of the source
// amplitudes, and the source's cell. Every thread of the block calls it.
template <typename T, int H>
__device__ void pass_tile(const Call<T>& k, const T* coef, const int64_t* off, int tx, int tz,
                          int64_t s, PassFields<T> f, const Sources<T>& src) {
  using U = Vec<T>;
  using Tile = PassTile<T, H>;
  constexpr int n = Tile::n;
  __shared__ U shared[Tile::rows * Tile::cols];
  const int64_t nsteps = k.nsteps[0], t = f.t;
  if (t >= nsteps) return;
  const Box& b = k.split.box;
  const int64_t sz = k.g.ax[0].stride, cells = k.g.cells;
  const T* p = f.p + s * cells;
  const T* pp = f.pp + s * cells;
  T* q1 = f.q1 + s * cells;
  T* q2 = f.q2 + s * cells;
  const T* V = k.V + off[0];
  const Stencil<T, H> sk = Stencil<T, H>::load(coef);
  // The tile: rows [z0, z0 + kPassTileRows), cells [x0, x0 + kTileX n) (clipped to the box);
  // shared memory holds rows from z0 - H and cells from x0 - L n.
  const int64_t z0 = b.lo[0] + int64_t(tz) * kPassTileRows;
  const int64_t x0 = b.lo[2] + int64_t(tx) * kTileX * n;
  const int64_t zs = z0 - H, xs = x0 - Tile::L * n;
  T* sh = reinterpret_cast<T*>(shared);
  auto add_source = [&](int64_t j, U& u, int64_t step) {
    const int64_t d = off[2] - j;
    if (d >= 0 && d < n) u.v[d] += src.amp[off[1] + step];
  };

  // Phase 1: p_{t+1} on the tile and H rows and L vectors around it, within the box and H
  // rows / L vectors past it (no later cell reads further).
  const int tid = thread_rank();
  if (tid < Tile::cols * ((Tile::rows + kPassRows - 1) / kPassRows)) {
    const int col = tid % Tile::cols, group = tid / Tile::cols;
    const int64_t x = xs + int64_t(col) * n;
    const int64_t za = max(zs + int64_t(group) * kPassRows, b.lo[0] - H);
    const int64_t zb =
        min(zs + int64_t(group + 1) * kPassRows, min(z0 + kPassTileRows, b.hi[0]) + H);
    const bool in_x = x >= b.lo[2] && x < b.hi[2];
    const bool out_x = x < b.lo[2] - Tile::L * n || x >= b.hi[2] + Tile::L * n;
    const bool tile_x = x >= x0 && x < x0 + int64_t(kTileX) * n && in_x;
    auto keep = [&](int64_t z, int64_t j, const U& u) {
      st(sh, (z - zs) * Tile::width + (x - xs), u);
      if (tile_x && z >= z0 && z < z0 + kPassTileRows && z < b.hi[0]) st(q1, j, u);
    };
    if (!out_x && za < zb) {
      // The rows of [za, zb) inside the box, computed; the others read from q1.
      const int64_t ca = in_x ? min(max(za, b.lo[0]), zb) : zb;
      const int64_t cb = in_x ? max(min(zb, b.hi[0]), ca) : zb;
      for (int64_t z = za; z < zb; ++z)
        if (z < ca || z >= cb) keep(z, z * sz + x, ld<U>(q1, z * sz + x));
      if (ca < cb)
        interior_column<T, H, kPassRows, U>(
            sk, k.split.outer_strides, k.split.nouter, ca * sz + x, int(cb - ca),
            [&](int64_t q) { return ld<U>(p, q); },
            [&](int r, int64_t j, const U& u, const U& a) {
              U v = T(2) * u - ld<U>(pp, j) + ld<U>(V, j) * a;
              add_source(j, v, t);
              keep(ca + r, j, v);
            });
    }
  }
  __syncthreads();
  if (t + 1 >= nsteps) return;

  // Phase 2: p_{t+2} on the tile, a vector by kVRZ rows per thread, from shared memory.
  const int64_t x = x0 + int64_t(threadIdx.x) * n, z = z0 + int64_t(threadIdx.y) * kVRZ;
  if (x >= b.hi[2] || z >= b.hi[0]) return;
  const int rows = int(min(int64_t(kVRZ), b.hi[0] - z));
  const int64_t width[1] = {Tile::width}, j0 = z * sz + x;
  interior_column<T, H, kVRZ, U>(
      sk, width, 1, (z - zs) * Tile::width + (x - xs), rows,
      [&](int64_t q) { return ld<U>(sh, q); },
      [&](int r, int64_t, const U& u, const U& a) {
        const int64_t j = j0 + r * sz;
        U v = T(2) * u - ld<U>(p, j) + ld<U>(V, j) * a;
        add_source(j, v, t + 1);
        st(q2, j, v);
      });
}

// Pass pf over the box: a tile per block, tiles and shots last to first where `reverse` (as
// StepLaunch's odd steps, so that a pass starts on the cells the launch before wrote last).
template <typename T, int H>
__global__ void __launch_bounds__(kStepBlock, arch_blocks(min_blocks<T>(kPassBlocks)))
    forward_pass(Call<T> k, unsigned tiles_x, bool reverse, PassFields<T> pf, Sources<T> src) {
  const unsigned bx = reverse ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int64_t s = k.shot(reverse ? gridDim.y - 1 - blockIdx.y : blockIdx.y);
  __shared__ int64_t off[3];  // pass_tile's
  const T* coef = block_constants<T, H>(k.coef, off, [&](int64_t* o) {
    o[0] = k.mV.offset(s);
    o[1] = src.mamp.offset(s);
    o[2] = src.cell(k, s);
  });
  follow_previous_kernel();
  pass_tile<T, H>(k, coef, off, int(bx % tiles_x), int(bx / tiles_x), s, pf, src);
}

// Where a blocked call's steps leave the state at a runtime count n < K (steps past it do
// nothing): settle_kernel moves it where the host looks for it, the fields into field[K % 2]
// (the current) and field[(K + 1) % 2], psi into psis[K % 2]. The call ran q single steps in
// place in `field` (leaving the current field in field[q % 2] = field[K % 2]), then passes into
// `spare` and back (run_passes).
template <typename T>
struct BlockedState {
  T* field[2];  // CudaKernels::forward's field[]: the state's pair, field[K % 2] the current
  T* spare[2];  // the passes' other pair: current, previous
  T* psis[2];
  int64_t q;    // single steps before the passes

  // The (current, previous) fields that pass i reads: the pairs alternate, field (in the single
  // steps' order) and spare. Pass i writes pair i + 1.
  __host__ __device__ void pair(int64_t i, T*& cur, T*& prev) const {
    cur = i % 2 ? spare[0] : field[q % 2];
    prev = i % 2 ? spare[1] : field[(q + 1) % 2];
  }
  // The (current, previous) fields after n < K steps.
  __device__ void after(int64_t n, T*& cur, T*& prev) const {
    if (n <= q) {
      cur = field[n % 2];
      prev = field[(n + 1) % 2];
      return;
    }
    const int64_t r = n - q, i = r / 2;
    pair(i, cur, prev);
    if (r % 2) {  // pass i ran its first step only, into the next pair's previous field
      T* next_cur;
      prev = cur;
      pair(i + 1, next_cur, cur);
    }
  }
};

template <typename T>
__global__ void settle_kernel(Call<T> k, BlockedState<T> b) {
  follow_previous_kernel();
  const int64_t n = k.nsteps[0], K = k.K, cells = k.g.cells;
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, s = k.shot(blockIdx.y);
  if (n >= K || j >= cells) return;
  T *cur, *prev;
  b.after(max(n, int64_t(0)), cur, prev);
  const int64_t i = s * cells + j;
  const T a = cur[i], c = prev[i];
  b.field[K % 2][i] = a;
  b.field[(K + 1) % 2][i] = c;
  if ((K - n) % 2) {
    const int64_t o = s * k.g.ndim * cells;
    swap_axes(b.psis[0] + o, b.psis[1] + o, k.g.ndim, cells, j);
  }
}

// Records the chunk's last step that ran from `field` (one block per shot), whose field ends in
// the outputs, then zeros for the steps past the runtime count (block 0 of each step records
// the step before).
template <typename T>
__global__ void record_tail(Call<T> k, const T* field, Sources<T> src) {
  follow_previous_kernel();
  const int64_t s = k.shot(blockIdx.x), last = min(k.nsteps[0], k.K) - 1;
  const T* u = field + s * k.g.cells;
  if (last >= 0) src.record(k, s, last, u, true);
  for (int64_t q = last + 1; q < k.K; ++q) src.record(k, s, q, u, false);
}

// Before adjoint step t: add the record cotangents (a thread per receiver, blockIdx.y the shot;
// atomics since receivers may share a cell; X is V lambda: acoustic_rows.h). Step t reads the
// source's cotangent (adjoint_step), off this launch's path: it is the one kernel between two
// steps. Each thread reads its receiver's cell, V and cotangent before it waits for the step
// before (follow_previous_kernel): none of them is written by a step, so after the wait only the
// atomic add is left on the chain.
// (Folded into the step kernels, by the block of each shot that finishes the step before last,
// a threadfence and a counter per block cost more than this launch: H100, 2026-11-23, 2D 500^2
// full-storage gradient 25.5 -> 28.4 ms, 1000^2 x 4 176 -> 208 ms.)
template <typename T>
__global__ void adjoint_pre(Call<T> k, int64_t t, T* X, const T* rbar, BatchMap mrbar, T* gamp) {
  const int64_t s = k.shot(blockIdx.y), r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = t < k.nsteps[0], mine = active && r < k.nrec;
  int64_t q = 0;
  T a = 0;
  if (mine) {
    q = k.rec[k.mrec.offset(s) + r];
    a = k.V[k.mV.offset(s) + q] * rbar[mrbar.offset(s) + t * k.nrec + r];
  }
  follow_previous_kernel();
  if (mine) atomicAdd(&X[s * k.g.cells + q], a);
  if (!active && r == 0) gamp[s * k.K + t] = 0;
}

// An adjoint step's frame part (the per-cell transpose of forward_frame), on a cell or a
// vector as forward_frame.
template <typename T, int H, typename U>
__device__ void adjoint_frame(const Call<T>& k, const StepBlocks& sb, const T* coef,
                              const int64_t* off, int64_t t, const T* X, T* Y, const T* psi,
                              T* psi_n, const T* zeta, T* zeta_n, const T* W, T* gV) {
  constexpr int n = lanes<T, U>();
  const Cell cell = frame_cell<T, U>(k, sb);
  if (!cell.valid) return;
  const Grid& g = k.g;
  const int64_t s = sb.shot(), nd = g.ndim, cells = g.cells, j = cell.j;
  X += s * cells;
  Y += s * cells;
  psi += s * nd * cells;
  psi_n += s * nd * cells;
  zeta += s * nd * cells;
  zeta_n += s * nd * cells;
  const LaneMask lm = lanes_inside<n>(cell.c[2], k.x_lo, k.x_hi);
  if (t >= k.nsteps[0]) {
    if (!k.swaps_past_end(t, true)) return;
    for (int i = 0; i < n; ++i) {
      if (!has_lane(lm, i)) continue;
      swap_cells(const_cast<T*>(X), Y, j + i);
      swap_axes(psi, psi_n, nd, cells, j + i);
      swap_axes(zeta, zeta_n, nd, cells, j + i);
    }
    return;
  }
  const StepCtx<T, H> f{g, Stencil<T, H>::load(coef), k.V + off[0], k.prof + off[1], k.split};
  accumulate_lanes(gV + off[3] + j,
                   ld<U>(X, j) * ld_stream<U>(W + off[2] + t * g.wcells + g.w_index(cell.c), lm),
                   lm);
  adjoint_cell<T, H, U>(f, cell.c, j, X, Y, psi, psi_n, zeta, zeta_n, lm);
}

// An adjoint step's box part (interior_adjoint's update, a column per thread, on vectors for
// VEC).
template <typename T, int H, bool VEC>
__device__ void adjoint_box(const Call<T>& k, const StepBlocks& sb, const T* coef,
                            const int64_t* off, int64_t t, const T* X, T* Y, const T* psi,
                            T* psi_n, const T* zeta, T* zeta_n, const T* W, T* gV) {
  const int64_t s = sb.shot(), nd = k.g.ndim, cells = k.g.cells, sz = k.g.ax[0].stride;
  using U = std::conditional_t<VEC, Vec<T>, T>;
  constexpr int XW = lanes<T, U>(), RZ = VEC ? kVRZ : kRZ;
  const InteriorCells cell = interior_cells<XW, RZ>(k.g, k.split.box, sb);
  if (!cell.n) return;
  X += s * cells;
  Y += s * cells;
  if (t >= k.nsteps[0]) {
    if (!k.swaps_past_end(t, true)) return;
    const int64_t o = s * nd * cells;
    for (int r = 0; r < cell.n; ++r)
      for (int i = 0; i < XW; ++i) {
        const int64_t j = cell.j + r * sz + i;
        swap_cells(const_cast<T*>(X), Y, j);
        swap_axes(psi + o, psi_n + o, nd, cells, j);
        swap_axes(zeta + o, zeta_n + o, nd, cells, j);
      }
    return;
  }
  const T* V = k.V + off[0];
  const T* Wt = W + off[2] + t * k.g.wcells + k.g.w_index(cell.c);
  const int64_t wz = k.g.ax[0].wstride;
  gV += off[3];
  interior_adjoint_column<T, H, RZ, U>(
      Stencil<T, H>::load(coef), k.split.outer_strides, k.split.nouter, V, X, Y, Wt, wz, gV,
      cell.j, cell.n);
}

// Adjoint step t over the step's blocks, as forward_step.
template <typename T, int H, int MinBlocks, Part P, bool VEC>
__global__ void __launch_bounds__(kStepBlock, arch_blocks(MinBlocks))
    adjoint_step(Call<T> k, StepBlocks sb, int64_t t, const T* X, T* Y, const T* psi, T* psi_n,
                 const T* zeta, T* zeta_n, const T* W, BatchMap mW, T* gV, BatchMap mgV,
                 T* gamp) {
  const int64_t s = sb.shot();
  __shared__ int64_t off[4];  // V, profiles, W (at the call's first step), gV
  const T* coef = block_constants<T, H>(k.coef, off, [&](int64_t* o) {
    o[0] = k.mV.offset(s);
    o[1] = k.mprof.offset(s);
    o[2] = mW.offset(s) + k.first_w() * k.g.wcells;
    o[3] = mgV.offset(s);
  });
  follow_previous_kernel();  // as forward_step
  // The source's cotangent of step t (past the count: adjoint_pre's zero), from X, which
  // adjoint_pre has finished and this step only reads; as the forward's block 0 records the
  // receivers (a launch of the box alone never holds block 0).
  if (P != Part::kBox && sb.block() == 0 && thread_rank() == 0 && t < k.nsteps[0]) {
    const int64_t q = k.src[k.msrc.offset(s)];
    gamp[s * k.K + t] = X[s * k.g.cells + q] / k.V[off[0] + q];
  }
  const bool in_frame = P == Part::kFrame || (P == Part::kAll && sb.block() < sb.frame);
  if (in_frame) {
    if constexpr (P != Part::kBox)
      adjoint_frame<T, H, T>(k, sb, coef, off, t, X, Y, psi, psi_n, zeta, zeta_n, W, gV);
  } else if constexpr (P != Part::kFrame) {
    if (VEC && sb.block() < sb.frame + sb.vframe) {
      if constexpr (VEC)
        adjoint_frame<T, H, Vec<T>>(k, sb, coef, off, t, X, Y, psi, psi_n, zeta, zeta_n, W, gV);
    } else {
      adjoint_box<T, H, VEC>(k, sb, coef, off, t, X, Y, psi, psi_n, zeta, zeta_n, W, gV);
    }
  }
}

// Enqueues a device-to-device copy on the call's stream.
struct AsyncCopy {
  cudaStream_t s;
  void operator()(void* dst, const void* src, size_t bytes) const {
    cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s);
  }
};

// A value of the current device for `key`, compute(device) the first time (one cache per call
// site: the lambda's type).
template <typename V, typename Key, typename F>
V per_device(const Key& key, F&& compute) {
  static std::mutex mutex;
  static std::map<std::pair<int, Key>, V> cache;
  int dev = 0;
  cudaGetDevice(&dev);
  const std::lock_guard<std::mutex> lock(mutex);
  auto [it, fresh] = cache.try_emplace({dev, key}, V{});
  if (fresh) it->second = compute(dev);
  return it->second;
}

// How many blocks of `kernel` (kStepBlock threads) the device holds at once: its
// multiprocessors times the blocks of the kernel one of them holds (its registers and launch
// bound on this device's architecture).
int64_t block_slots(const void* kernel) {
  return per_device<int64_t>(kernel, [&](int dev) {
    int multiprocessors = 0, per_multiprocessor = 0;
    cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, dev);
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_multiprocessor, kernel, kStepBlock, 0);
    return int64_t(std::max(1, multiprocessors)) * std::max(1, per_multiprocessor);
  });
}

// Whether this device runs the kernels here as code compiled for sm_90 or later, which waits for
// the kernel before it (follow_previous_kernel), so that they can be launched early (Launch).
// Code JIT-compiled from an older architecture's PTX does not wait. Every kernel here is compiled
// for the same architectures, so one kernel's ptxVersion answers for all.
bool dependent_launches() {
  return per_device<bool>(0, [](int) {
    cudaFuncAttributes a{};
    return cudaFuncGetAttributes(&a, reinterpret_cast<const void*>(mirror_kernel<float>)) ==
               cudaSuccess &&
           a.ptxVersion >= 90;
  });
}

// The device's L2 cache, in bytes.
int64_t l2_bytes() {
  return per_device<int64_t>(0, [](int dev) {
    int bytes = 0;
    cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, dev);
    return int64_t(bytes);
  });
}

// The group size for a call's shots (common/shot_groups.h), or SWEEP_CUDA_SHOT_GROUP's. A
// group's steps touch `fields` state fields of each shot (W streams past L2) and the grid-sized
// operands `models` once, or once per shot where they are batched.
template <typename T>
ffi::Error shot_group(const Layout& c, int fields, std::initializer_list<BatchMap> models,
                      int64_t& size) {
  const char* v = std::getenv("SWEEP_CUDA_SHOT_GROUP");
  if (v && !parse_shot_group(v, size))
    return ffi::Error::InvalidArgument(
        std::string("SWEEP_CUDA_SHOT_GROUP: expected a positive integer, got '") + v + "'");
  if (v) {
    size = std::min(size, c.nshot);
    return ffi::Error::Success();
  }
  int64_t per_shot = fields, shared = 0;
  for (const BatchMap& m : models) (m.batched() ? per_shot : shared) += 1;
  const int64_t bytes = c.grid.cells * int64_t(sizeof(T));
  size = shot_group_size(c.nshot, c.K, per_shot * bytes, shared * bytes, l2_bytes());
  return ffi::Error::Success();
}

// Runs f() once per group of `group` shots, with k's launches set to take that group.
template <typename T, typename F>
void in_groups(Call<T>& k, int64_t group, F&& f) {
  for (k.first_shot = 0; k.first_shot < k.nshot; k.first_shot += group) {
    k.shots = std::min(group, k.nshot - k.first_shot);
    f();
  }
}

ffi::Error last_error() {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return ffi::Error::Internal(std::string("CUDA: ") + cudaGetErrorString(e));
  return ffi::Error::Success();
}


// The step kernels as families: Family::kernel<B, P, VEC>() is the instantiation for part P
// bounded to B float32 blocks (min_blocks), Family::bounds the bounds of each form.
template <typename T, int H>
struct ForwardStep {
  static constexpr Bounds bounds = kForwardBounds;
  template <int B, Part P, bool VEC>
  static constexpr auto kernel() { return forward_step<T, H, min_blocks<T>(B), P, VEC>; }
};

template <typename T, int H>
struct AdjointStep {
  static constexpr Bounds bounds = kAdjointBounds;
  template <int B, Part P, bool VEC>
  static constexpr auto kernel() { return adjoint_step<T, H, min_blocks<T>(B), P, VEC>; }
};

// Fuse where the frame's blocks (all shots) fill at most kFuseWaves waves of the device's block
// slots for the fused kernel (block_slots). There the frame's per-cell chains leave
// multiprocessors idle that the box's blocks fill (H100: 2D 500^2 forward 16.2 -> 10.1 ms, 0.3
// waves; 2D 1000^2 x 4 64.9 -> 63.3 ms, 1.9 waves). A large frame keeps every multiprocessor
// busy on its own and runs faster with its own bounds (3D 200^3, 36 waves: fused 164 ms against
// 152 ms apart). A step without a frame is fused, so a launch of the box alone never holds
// block 0.
constexpr int64_t kFuseWaves = 4;

// How a call launches its steps of a kernel family: the step's blocks, fused or not, and the
// instantiations of each form (the box's on vectors where the call's are: Call::vec).
template <typename T, typename Family>
struct StepLaunch {
  static constexpr Bounds b = Family::bounds;
  template <bool VEC>
  static constexpr auto kernels() {
    return std::array{Family::template kernel<VEC ? b.vec : b.fused, Part::kAll, VEC>(),
                      Family::template kernel<b.frame, Part::kFrame, false>(),
                      Family::template kernel<VEC ? b.vec : b.box, Part::kBox, VEC>()};
  }
  decltype(kernels<false>()) kernel;  // fused, frame, box
  StepBlocks sb;
  bool fused;

  explicit StepLaunch(const Call<T>& k)
      : kernel(k.vec ? kernels<true>() : kernels<false>()),
        sb(StepBlocks::of(k.frame, k.vframe, k.split.box, k.vec ? Vec<T>::n : 1,
                          k.vec ? kVRZ : kRZ)),
        fused(int64_t(sb.frame) * k.shots <=
              kFuseWaves * block_slots(reinterpret_cast<const void*>(kernel[0]))) {
    sb.first_shot = k.first_shot;  // a StepLaunch is made per group (in_groups)
  }

  // One step: one launch, or the frame's and the box's. Odd steps take the blocks (and shots)
  // last to first, and run the box before the frame: a step then starts on the cells that the
  // step before touched last, which L2 still holds (H100,
  // 2026-11-24: 2D 1000^2 x 4 forward 62.8 -> 56.7 ms, full-storage gradient 177 -> 168 ms; 3D
  // 200^3 159.7 -> 156.1 and 427 -> 421 ms; 2D 500^2, whose fields fit in L2, unchanged).
  template <typename... Args>
  void operator()(const Call<T>& k, const Launch& launch, int64_t t, Args... args) const {
    const dim3 block(kTileX, kTileRows);
    StepBlocks all = sb;
    all.reverse = t % 2;
    if (fused) {
      if (all.total) launch(kernel[0], all.grid(k.shots), block, k, all, t, args...);
      return;
    }
    StepBlocks frame = all, box = all;
    frame.total = sb.frame;
    box.first = sb.frame;
    auto launch_frame = [&] {
      if (frame.total) launch(kernel[1], frame.grid(k.shots), block, k, frame, t, args...);
    };
    auto launch_box = [&] {
      if (box.total > box.first)
        launch(kernel[2], box.grid(k.shots), block, k, box, t, args...);
    };
    if (all.reverse) launch_box();
    launch_frame();
    if (!all.reverse) launch_box();
  }

  // Step t of the frame alone, its cells and vectors in one launch of the fused kernel (a
  // blocked call's: run_passes).
  template <typename... Args>
  void frame(const Call<T>& k, const Launch& launch, int64_t t, Args... args) const {
    StepBlocks f = sb;
    f.reverse = t % 2;
    f.total = sb.frame + sb.vframe;
    if (f.total) launch(kernel[0], f.grid(k.shots), dim3(kTileX, kTileRows), k, f, t, args...);
  }
};

// Whether a forward call runs its box two steps per pass (forward_pass): 2D (3D would need
// the tiles' halos along two outer axes), every cell updated, no free surface (its mirror
// image is a step of its own) and no W, the box and the frame on vectors, at least one pass,
// and the spare fields given (ffi_chunk.spare_fields) and aligned. The frame must not be empty:
// its launches record the receivers.
template <typename T>
bool blocks_in_time(const Call<T>& k, const ForwardArgs& a) {
  const Grid& g = k.g;
  const void* spare = (*a.spare_o)->untyped_data();
  return g.ndim == 2 && !g.free_surface && !a.W_o && !a.physical_only && k.vec && k.K >= 4 &&
         (*a.spare_o)->element_count() == size_t(2 * k.nshot * g.cells) &&
         reinterpret_cast<uintptr_t>(spare) % 16 == 0 && !k.split.box.empty() &&
         k.frame.cells() + k.vframe.cells() > 0;
}

// When a blocked call's passes pay off. A pass launches the frame alone twice, and such a
// launch is about one wave of latency-bound blocks (H100, 2D 1000^2 x 4: 18.5 us, against 51.5
// us for the pass and 38.2 us for a whole step, under the profiler), so the box must be large
// beside the frame. The frame's share of the cells, a property of the grid, is
// ffi_chunk.spare_fields' to judge (PASS_FRAME_SHARE): it gives the spare fields only where the
// passes may pay off, and the kernels block only where they are given. What depends on the
// device is judged here: the pass's blocks (tiles by shots) must fill it kPassWaves times (H100,
// 2D 500^2, 0.24 waves: forward 4.9 -> 8.4 ms). SWEEP_CUDA_PASSES=always / never overrides both
// rules (the tests run the passes on small grids).
constexpr int64_t kPassWaves = 2;

// SWEEP_CUDA_PASSES: "always", "never", or anything else (unset: "auto"): passes_pay_off decides.
int passes_override() {
  const char* v = std::getenv("SWEEP_CUDA_PASSES");
  if (!v) return 0;
  const std::string s(v);
  return s == "always" ? 1 : s == "never" ? -1 : 0;
}

// forward_pass's tiles along x and z.
template <typename T>
std::pair<unsigned, unsigned> pass_tiles(const Box& b) {
  return {unsigned(((b.hi[2] - b.lo[2]) / Vec<T>::n + kTileX - 1) / kTileX),
          unsigned((b.hi[0] - b.lo[0] + kPassTileRows - 1) / kPassTileRows)};
}

// Whether a blocked call's passes fill the device (kPassWaves).
template <typename T, int H>
bool passes_pay_off(const Call<T>& k) {
  const int force = passes_override();
  if (force) return force > 0;
  const auto [tx, tz] = pass_tiles<T>(k.split.box);
  return int64_t(tx) * tz * k.shots >=
         kPassWaves * block_slots(reinterpret_cast<const void*>(forward_pass<T, H>));
}

// A blocked call's passes, after its single steps: pass i runs steps t = q + 2 i and t + 1 as
// the frame's step t (to the other pair's previous field), the box's two steps, the frame's step
// t + 1 (to the other pair's current field, from the box's and its own step t), from pair i to
// pair i + 1 (BlockedState::pair). settle_kernel then moves the state where a runtime count
// below K left it.
template <typename T, int H, typename Step>
void run_passes(const Call<T>& k, const Step& step, const Launch& launch,
                const BlockedState<T>& b, T* zeta, const Sources<T>& src) {
  const auto [tiles_x, tiles_z] = pass_tiles<T>(k.split.box);
  const dim3 grid(tiles_x * tiles_z, unsigned(k.shots)), block(kTileX, kTileRows);
  for (int64_t i = 0; b.q + 2 * i < k.K; ++i) {
    const int64_t t = b.q + 2 * i;
    T *from[2], *to[2];
    b.pair(i, from[0], from[1]);
    b.pair(i + 1, to[0], to[1]);
    step.frame(k, launch, t, from[0], from[1], to[1], b.psis[t % 2], b.psis[(t + 1) % 2], zeta,
               static_cast<T*>(nullptr), src);
    launch(forward_pass<T, H>, grid, block, k, tiles_x, bool(i % 2),
           PassFields<T>{t, from[0], from[1], to[1], to[0]}, src);
    step.frame(k, launch, t + 1, to[1], from[0], to[0], b.psis[(t + 1) % 2], b.psis[t % 2], zeta,
               static_cast<T*>(nullptr), src);
  }
  const int64_t cells = k.g.cells;
  launch(settle_kernel<T>, dim3(unsigned((cells + 255) / 256), unsigned(k.shots)), dim3(256), k,
         b);
}

// The backend's kernels as the shared entry points (acoustic_bindings.h) call them.
struct CudaKernels {
  template <typename T>
  static ffi::Error forward(cudaStream_t stream, const ForwardArgs& a) {
    ForwardLayout c;
    if (auto e = parse(a, c); e.failure()) return e;
    const int64_t cells = c.grid.cells, nd = a.cfg.ndim, K = c.K;
    // field[t % 2] holds the field at step t: for odd K the state starts in the second
    // buffers, so that the last step lands in the outputs without a swap or a copy.
    const bool odd = K % 2;
    T* field[2] = {data<T>(odd ? a.pp_o : a.p_o), data<T>(odd ? a.p_o : a.pp_o)};
    T* psis[2] = {data<T>(odd ? a.psi_t : a.psi_o), data<T>(odd ? a.psi_o : a.psi_t)};
    T* ZETA = data<T>(a.zeta_o);
    if (auto e = copy_state<T>(c, nd, {a.p, a.pp, a.psi, a.zeta}, {field[0], field[1], psis[0], ZETA},
                               AsyncCopy{stream});
        e.failure())
      return e;
    if (!a.clean_scratch) cudaMemsetAsync(psis[1], 0, c.nshot * nd * cells * sizeof(T), stream);
    T* W = a.W_o ? data<T>(a.W_o) : nullptr;
    // The forward's box is wider than the adjoint's: its PML terms reach half cells past the PML
    // (3D 200^3: 11% fewer frame cells).
    Call<T> k = make_call<T>(c, a.coef, a.V, a.prof, a.src, a.rec, a.nsteps, a.w0, c.wsteps,
                             c.grid.half,
                             {data<T>(a.V), field[0], field[1], psis[0], psis[1], ZETA},
                             a.physical_only);
    const bool may_block = blocks_in_time(k, a);
    int64_t group = 0;  // p and p_prev a shot; V
    if (auto e = shot_group<T>(c, 2, {c.V}, group); e.failure()) return e;
    k.shots = group;  // for passes_pay_off
    const Sources<T> src{data<T>(a.amp), c.amp, data<T>(a.recs_o)};
    const Launch launch{stream, dependent_launches()};
    if (auto e = dispatch_order(a.cfg.order, [&](auto h) {
          constexpr int Hc = decltype(h)::value;
          const bool blocked = k.settles = may_block && passes_pay_off<T, Hc>(k);
          if (blocked)  // the spare fields' halos must be zero, as the state's are
            cudaMemsetAsync(data<T>(a.spare_o), 0, 2 * c.nshot * cells * sizeof(T), stream);
          in_groups(k, group, [&] {
            const StepLaunch<T, ForwardStep<T, Hc>> step(k);
            // Blocked: the first K % 4 steps one at a time, then passes of two steps that go to
            // the spare pair and come back (an even number of them), so that the state ends
            // where the single steps would have left it, without a copy.
            const int64_t q = blocked ? K % 4 : K;
            for (int64_t t = 0; t < q; ++t) {
              if (c.grid.free_surface) mirror<T>(k, field[t % 2], t, launch);
              step(k, launch, t, field[t % 2], field[(t + 1) % 2], field[(t + 1) % 2],
                   psis[t % 2], psis[(t + 1) % 2], ZETA, W, src);
            }
            if (blocked) {
              T* spare = data<T>(a.spare_o);
              const BlockedState<T> state{{field[0], field[1]},
                                          {spare, spare + c.nshot * cells},
                                          {psis[0], psis[1]},
                                          q};
              run_passes<T, Hc>(k, step, launch, state, ZETA, src);
            }
            launch(record_tail<T>, dim3(unsigned(k.shots)), dim3(kBlock), k, field[K % 2], src);
          });
          return ffi::Error::Success();
        });
        e.failure())
      return e;
    return last_error();
  }

  template <typename T>
  static ffi::Error adjoint(cudaStream_t stream, const AdjointArgs& a) {
    AdjointLayout c;
    if (auto e = parse(a, c); e.failure()) return e;
    const int64_t cells = c.grid.cells, nd = a.cfg.ndim, K = c.K;
    const bool odd = K % 2;  // as in forward: the last step lands in the outputs
    T* xs[2] = {data<T>(odd ? a.Y_o : a.X_o), data<T>(odd ? a.X_o : a.Y_o)};
    T* psis[2] = {data<T>(odd ? a.psi_t : a.psi_o), data<T>(odd ? a.psi_o : a.psi_t)};
    T* zetas[2] = {data<T>(odd ? a.zeta_t : a.zeta_o), data<T>(odd ? a.zeta_o : a.zeta_t)};
    if (auto e = copy_state<T>(c, nd, {a.X, a.Y, a.psi, a.zeta}, {xs[0], xs[1], psis[0], zetas[0]},
                               AsyncCopy{stream});
        e.failure())
      return e;
    if (!a.clean_scratch) {
      cudaMemsetAsync(psis[1], 0, c.nshot * nd * cells * sizeof(T), stream);
      cudaMemsetAsync(zetas[1], 0, c.nshot * nd * cells * sizeof(T), stream);
    }
    T* gV = data<T>(a.gV_o);  // the sum to add to
    Call<T> k =
        make_call<T>(c, a.coef, a.V, a.prof, a.src, a.rec, a.nsteps, &a.w0, c.wsteps,
                     2 * c.grid.half,
                     {data<T>(a.V), xs[0], xs[1], psis[0], psis[1], zetas[0], zetas[1], gV});
    const T* Wd = data<T>(a.W);
    int64_t group = 0;  // X and Y a shot; V and dJ/dV
    if (auto e = shot_group<T>(c, 2, {c.V, c.gV}, group); e.failure()) return e;
    const Launch launch{stream, dependent_launches()};
    if (auto e = dispatch_order(a.cfg.order, [&](auto h) {
          constexpr int Hc = decltype(h)::value;
          in_groups(k, group, [&] {
            const StepLaunch<T, AdjointStep<T, Hc>> step(k);
            const dim3 pre_grid(unsigned(std::max<int64_t>(1, (c.nrec + kBlock - 1) / kBlock)),
                                unsigned(k.shots));
            for (int64_t i = 0; i < K; ++i) {
              const int64_t t = K - 1 - i;
              T* cur = xs[i % 2];
              launch(adjoint_pre<T>, pre_grid, dim3(kBlock), k, t, cur, data<T>(a.rbar), c.rbar,
                     data<T>(a.gamp_o));
              if (c.grid.free_surface) mirror<T>(k, cur, t, launch);
              step(k, launch, t, cur, xs[(i + 1) % 2], psis[i % 2], psis[(i + 1) % 2],
                   zetas[i % 2], zetas[(i + 1) % 2], Wd, c.W, gV, c.gV, data<T>(a.gamp_o));
            }
          });
          return ffi::Error::Success();
        });
        e.failure())
      return e;
    return last_error();
  }
};

using CudaEntry = Entry<CudaKernels, cudaStream_t>;

}  // namespace
}  // namespace sweep::acoustic

// Command-buffer compatible: a call only enqueues work on XLA's stream (kernels, async copies
// and memsets) whose arguments depend on buffer addresses and static shapes, never on values
// read back by the host, so XLA may capture it into a CUDA graph and replay it.
SWEEP_ACOUSTIC_HANDLERS(Cuda, sweep::acoustic::CudaEntry,
                        .Ctx<xla::ffi::PlatformStream<cudaStream_t>>(),
                        {xla::ffi::Traits::kCmdBufferCompatible})
