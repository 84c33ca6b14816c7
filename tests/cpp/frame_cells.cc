// The CUDA frame's per-cell and per-vector updates (acoustic_rows.h: forward_cell and
// adjoint_cell on a cell or a 16-byte vector of cells along x, the PML terms included) against
// the CPU rows (forward_row, adjoint_row) on the host, over every updated cell outside the box:
// the new field, psi and zeta must be equal bitwise, in 2D and 3D, float and double, for orders
// whose updated x range starts on a vector and for orders and grids whose rows start or end
// inside one. The cells are split as the CUDA kernels split them: where the box runs on vectors
// (its x range rounded to them), every aligned vector that holds an updated cell, those that
// straddle an end of the range storing their lanes inside only (lanes_inside: every other cell,
// the halo's and the dead ones', must be left as it was); else single cells.
// Built and run by tests/test_cuda_forms_on_host.py; prints the largest difference of each case and
// exits 1 if one is not zero.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "acoustic/acoustic_rows.h"
#include "report.h"

using namespace sweep;
using namespace sweep::acoustic;

namespace {

template <typename T>
T uniform() {
  return T(std::rand()) / RAND_MAX - T(0.5);
}

// Profiles as pml.py shapes them where it matters here: c and d nonzero in the PML only, e = D1 c
// (reaching half cells past it).
template <typename T, int H>
std::vector<T> profiles(const Grid& g, const Stencil<T, H>& k) {
  std::vector<T> prof(size_t(g.ndim) * 3 * g.smax, T(0));
  for (int a = 0; a < 3; ++a) {
    const Axis& A = g.ax[a];
    if (!A.active) continue;
    T* c = prof.data() + size_t(A.slot) * 3 * g.smax;
    T *d = c + g.smax, *e = d + g.smax;
    for (int64_t i = A.begin; i < A.end; ++i) {
      const int64_t depth = i < A.begin + A.pml_lo ? A.begin + A.pml_lo - i
                            : i >= A.end - A.pml_hi ? i - (A.end - A.pml_hi) + 1
                                                    : 0;
      if (depth == 0) continue;
      c[i] = T(-0.02) * T(depth);
      d[i] = T(0.9) - T(0.01) * T(depth);
    }
    for (int64_t i = H; i < A.size - H; ++i)
      for (int m = 1; m <= H; ++m) e[i] += k.d1[m] * (c[i + m] - c[i - m]);
  }
  return prof;
}

// physical_only: the forward alone, over the physical model's cells (boundary saving's reverse
// steps: Grid::update_range), whose rows start and end inside the PML's vectors.
template <typename T, int H, typename U>
double largest_difference(int nd, bool free_surface, int64_t nx_model, bool physical_only = false) {
  const int64_t abcn = 6;
  // the model reaches 4 H past the PML on each side: the adjoint's box is not empty
  const int64_t dims[3] = {2 * (abcn + H) + 8 * H + 3, 2 * (abcn + H) + 8 * H + 2,
                           2 * (abcn + H) + 8 * H + nx_model};
  // rows padded to whole vectors with dead cells past the x halo, as sweep.grid.Grid pads them
  const int64_t n = lanes<T, U>(), xpad = (n - dims[2] % n) % n;
  const int64_t storage[3] = {dims[0], dims[1], dims[2] + xpad};
  const Grid g = Grid::make(nd, nd == 3 ? storage : storage + 1, H, abcn, free_surface, xpad);
  const int64_t cells = g.cells;
  T coef[2 * (H + 1)];
  for (int i = 0; i < 2 * (H + 1); ++i) coef[i] = T(0.1) * T(i + 1) - T(0.3);
  const auto k = Stencil<T, H>::load(coef);
  const std::vector<T> prof = profiles(g, k);

  // Fields: p, pp and X, V anywhere; psi, zeta and their adjoints only where their axis's c is
  // not zero (as the steps leave them); the next psi / zeta buffers zero (as the kernels' scratch).
  std::srand(7);
  auto field = [&](size_t count) {
    std::vector<T> f(count);
    for (T& v : f) v = uniform<T>();
    return f;
  };
  std::vector<T> p = field(cells), pp = field(cells), X = field(cells), Y = field(cells),
                 V = field(cells);
  std::vector<T> psi = field(nd * cells), zeta = field(nd * cells);
  for (int a = 0; a < 3; ++a) {
    const Axis& A = g.ax[a];
    if (!A.active) continue;
    const T* c = prof.data() + size_t(A.slot) * 3 * g.smax;
    for (int64_t j = 0; j < cells; ++j)
      if (c[(j / A.stride) % A.size] == 0) psi[A.slot * cells + j] = zeta[A.slot * cells + j] = 0;
  }
  std::vector<T> zero(nd * cells, T(0)), gV(cells, T(0));

  for (bool adjoint : {false, true}) {
    if (adjoint && physical_only) continue;
    RowSplit split = RowSplit::of(g, adjoint ? 2 * H : H);
    Box& b = split.box;  // the box's x range to whole vectors (make_call)
    b = b.x_vectors(n, b.lo[2], b.hi[2]);
    if (b.empty()) return -1;  // a case that would not test the box's frame
    const StepCtx<T, H> f{g, k, V.data(), prof.data(), split};
    // [0]: the rows, [1]: the cells; field (pp or Y), next psi, zeta (forward: in place) or next
    // zeta (adjoint)
    std::vector<T> out[2][3];
    for (auto& o : out) {
      o[0] = adjoint ? Y : pp;
      o[1] = zero;
      o[2] = adjoint ? zero : zeta;
    }
    std::vector<T> acc(g.ax[2].size);
    int64_t lo[3], hi[3];
    g.update_range(physical_only, lo, hi);
    for (int64_t z = lo[0]; z < hi[0]; ++z)
      for (int64_t y = lo[1]; y < hi[1]; ++y) {
        int64_t c[3] = {z, y, lo[2]};
        if (adjoint)
          adjoint_row<T, H>(f, c, lo[2], hi[2], X.data(), out[0][0].data(), psi.data(),
                            out[0][1].data(), zeta.data(), out[0][2].data(), Y.data(), gV.data(),
                            acc.data());
        else
          forward_row<T, H>(f, c, lo[2], hi[2], p.data(), out[0][0].data(), psi.data(),
                            out[0][1].data(), out[0][2].data(), nullptr, acc.data());
        for (int64_t x = lo[2] / n * n; x < hi[2]; x += n) {
          c[2] = x;
          if (b.contains(c)) continue;
          const int64_t j = z * g.ax[0].stride + y * g.ax[1].stride + x;
          const LaneMask lm = lanes_inside<lanes<T, U>()>(x, lo[2], hi[2]);
          if (adjoint)
            adjoint_cell<T, H, U>(f, c, j, X.data(), out[1][0].data(), psi.data(),
                                  out[1][1].data(), zeta.data(), out[1][2].data(), lm);
          else
            forward_cell<T, H, U>(f, c, j, p.data(), out[1][0].data(), out[1][0].data(),
                                  psi.data(), out[1][1].data(), out[1][2].data(), lm);
        }
      }
    // Compare outside the box (the rows update it too, the cells do not), the halo included.
    double d = 0;
    for (int64_t j = 0; j < cells; ++j) {
      const int64_t c[3] = {j / g.ax[0].stride % g.ax[0].size, j / g.ax[1].stride % g.ax[1].size,
                            j % g.ax[2].size};
      if (b.contains(c)) continue;
      for (int i = 0; i < 3; ++i)
        for (int a = 0; a < (i ? nd : 1); ++a)
          d = std::fmax(d, std::fabs(double(out[0][i][a * cells + j] - out[1][i][a * cells + j])));
    }
    if (d != 0) return d;
  }
  return 0;
}

}  // namespace

int main() {
  Report report;
  for (int nd : {2, 3}) {
    for (bool fs : {false, true}) {
      report("float cell, order 8", nd, largest_difference<float, 4, float>(nd, fs, 0));
      report("float vector, order 8", nd, largest_difference<float, 4, Vec<float>>(nd, fs, 0));
      report("float vector, order 8, 3 dead cells", nd,
             largest_difference<float, 4, Vec<float>>(nd, fs, 1));
      report("double vector, order 8, 1 dead cell", nd,
             largest_difference<double, 4, Vec<double>>(nd, fs, 1));
      report("float vector, order 2", nd, largest_difference<float, 1, Vec<float>>(nd, fs, 6));
      report("float vector, order 6", nd, largest_difference<float, 3, Vec<float>>(nd, fs, 2));
      report("double vector, order 8", nd, largest_difference<double, 4, Vec<double>>(nd, fs, 0));
      report("double vector, order 4", nd, largest_difference<double, 2, Vec<double>>(nd, fs, 0));
      report("float vector, order 4, 3 dead cells", nd,
             largest_difference<float, 2, Vec<float>>(nd, fs, 1));
      report("double vector, order 6, 1 dead cell", nd,
             largest_difference<double, 3, Vec<double>>(nd, fs, 3));
      report("float vector, order 8, 3 dead cells, physical cells only", nd,
             largest_difference<float, 4, Vec<float>>(nd, fs, 1, true));
      report("float vector, order 4, physical cells only", nd,
             largest_difference<float, 2, Vec<float>>(nd, fs, 0, true));
      report("double cell, order 6, physical cells only", nd,
             largest_difference<double, 3, double>(nd, fs, 2, true));
    }
  }
  return report.failed;
}
