// The CUDA kernels' shot-group rule (common/shot_groups.h) on the grids it was fitted to (H100,
// 50 MiB of L2; float32, order 8, PML 20: storage rows of n + 48 cells): the group sizes that
// ran fastest there, its limits (calls of fewer than kGroupSteps steps, shots too large for L2,
// groups of even size) and SWEEP_CUDA_SHOT_GROUP's parsing. Built and run by
// tests/test_cuda_forms_on_host.py; prints each case and exits 1 if one is wrong.
#include <cstdint>
#include <cstdio>

#include "common/shot_groups.h"

using sweep::parse_shot_group;
using sweep::shot_group_size;

namespace {

int failed = 0;

void expect(const char* name, int64_t got, int64_t want) {
  std::printf("%s: %lld (expected %lld)\n", name, (long long)got, (long long)want);
  failed |= got != want;
}

constexpr int64_t kL2 = 50LL << 20;

// The forward's group for shots of `cells` storage cells (p and p_prev a shot, V shared) of
// `bytes` each, K steps a call.
int64_t forward(int64_t nshot, int64_t cells, int64_t K = 72, int64_t bytes = 4) {
  return shot_group_size(nshot, K, 2 * cells * bytes, cells * bytes, kL2);
}

int64_t square(int64_t n) { return (n + 48) * (n + 48); }
int64_t cube(int64_t n) { return (n + 48) * (n + 48) * (n + 48); }

}  // namespace

int main() {
  // The fastest sizes measured (performance.md, seventeenth session).
  expect("2D 1000^2 x 4", forward(4, square(1000)), 1);
  expect("2D 1000^2 x 8", forward(8, square(1000)), 1);
  expect("2D 700^2 x 8", forward(8, square(700)), 4);
  expect("2D 500^2 x 8", forward(8, square(500)), 8);
  expect("2D 1400^2 x 4", forward(4, square(1400)), 1);
  expect("2D 2000^2 x 4", forward(4, square(2000)), 4);
  expect("3D 100^3 x 4", forward(4, cube(100)), 4);
  expect("3D 150^3 x 4", forward(4, cube(150)), 4);
  // The adjoint's fields: X and Y a shot, V and dJ/dV shared.
  const int64_t f = 4 * square(1000);
  expect("2D 1000^2 x 4, adjoint", shot_group_size(4, 72, 2 * f, 2 * f, kL2), 1);
  // Limits: one-step calls; float64 fields past half of L2; one shot; groups of even size.
  expect("2D 1000^2 x 4, K = 1", forward(4, square(1000), 1), 4);
  expect("2D 1000^2 x 4, K = 3", forward(4, square(1000), 3), 4);
  expect("2D 1000^2 x 4, K = 4", forward(4, square(1000), 4), 1);
  expect("2D 1000^2 x 4, float64", forward(4, square(1000), 72, 8), 4);
  expect("2D 1000^2 x 1", forward(1, square(1000)), 1);
  expect("2D 700^2 x 5 (4 fit: groups of 3 and 2)", forward(5, square(700)), 3);
  expect("2D 700^2 x 9 (4 fit: groups of 3)", forward(9, square(700)), 3);
  // SWEEP_CUDA_SHOT_GROUP: positive integers only.
  for (const char* bad : {"", "0", "-1", "two", "3x", " "}) {
    int64_t n = -7;
    expect(bad, parse_shot_group(bad, n) ? 1 : 0, 0);
  }
  int64_t n = 0;
  expect("\"12\" parses", parse_shot_group("12", n) ? n : -1, 12);
  return failed;
}
