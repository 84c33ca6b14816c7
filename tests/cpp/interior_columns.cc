// The CUDA box's column updates (acoustic_rows.h: interior_forward_column and
// interior_adjoint_column, on a cell or a 16-byte vector of cells per row) against the CPU
// rows (interior_forward, interior_adjoint) on the host: fields, W, the adjoint field and dJ/dV
// must be equal bitwise (the same sums in the same order), in 2D and 3D, float and double.
// Built and run by tests/test_cuda_forms_on_host.py; prints the largest difference of each case
// and exits 1 if one is not zero.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "acoustic/acoustic_rows.h"
#include "report.h"

using namespace sweep;
using namespace sweep::acoustic;

template <typename T, int H, int RZ, typename U>
double largest_difference(int nd) {
  const int nz = 4 * RZ + 2 * H, ny = nd == 3 ? 2 * H + 3 : 1, nx = 40;
  const int64_t sy = nx, sz = int64_t(ny) * nx, cells = nz * sz;
  const int64_t strides[2] = {sz, nd == 3 ? sy : 0};
  const int nouter = nd - 1, x0 = 8, x1 = 32;  // x0, x1: whole vectors, H cells in
  enum { P, PP_ROW, PP_COL, V, W_ROW, W_COL, X, Y_ROW, Y_COL, G_ROW, G_COL, FIELDS };
  T* f = static_cast<T*>(std::aligned_alloc(64, sizeof(T) * cells * FIELDS));
  auto at = [&](int i) { return f + i * cells; };
  std::srand(1);
  for (int64_t i = 0; i < cells * FIELDS; ++i) f[i] = T(std::rand()) / RAND_MAX;
  for (int i : {PP_ROW, W_ROW, Y_ROW, G_ROW})
    for (int64_t c = 0; c < cells; ++c) at(i + 1)[c] = at(i)[c];
  T coef[2 * (H + 1)];
  for (int i = 0; i < 2 * (H + 1); ++i) coef[i] = T(0.1) * T(i + 1) - T(0.3);
  const auto k = Stencil<T, H>::load(coef);
  for (int z = H; z + RZ <= nz - H; z += RZ)
    for (int y = nd == 3 ? H : 0; y < (nd == 3 ? ny - H : 1); ++y) {
      const int64_t base = z * sz + y * sy;  // W in the fields' layout here: wbase = base
      for (int r = 0; r < RZ; ++r) {
        const int64_t b = base + r * sz;
        interior_forward<T, H>(k, strides, nouter, at(P), at(PP_ROW), at(V), at(W_ROW), b, b, x0, x1);
        interior_adjoint<T, H>(k, strides, nouter, at(V), at(X), at(Y_ROW), at(W_ROW), at(G_ROW), b, b,
                               x0, x1);
      }
      for (int x = x0; x < x1; x += lanes<T, U>()) {
        interior_forward_column<T, H, RZ, U>(k, strides, nouter, at(P), at(PP_COL), at(V),
                                             at(W_COL) + base + x, sz, base + x, RZ);
        interior_adjoint_column<T, H, RZ, U>(k, strides, nouter, at(V), at(X), at(Y_COL),
                                             at(W_ROW) + base + x, sz, at(G_COL), base + x, RZ);
      }
    }
  double d = 0;
  for (int i : {PP_ROW, W_ROW, Y_ROW, G_ROW})
    for (int64_t c = 0; c < cells; ++c) d = std::fmax(d, std::fabs(double(at(i)[c] - at(i + 1)[c])));
  std::free(f);
  return d;
}

int main() {
  Report report;
  for (int nd : {2, 3}) {
    report("float cell", nd, largest_difference<float, 4, 4, float>(nd));
    report("float vector", nd, largest_difference<float, 4, 2, Vec<float>>(nd));
    report("float vector, order 4", nd, largest_difference<float, 2, 2, Vec<float>>(nd));
    report("double cell", nd, largest_difference<double, 4, 4, double>(nd));
    report("double vector", nd, largest_difference<double, 4, 2, Vec<double>>(nd));
  }
  return report.failed;
}
