// Shot groups (the CUDA kernels' host side; plain C++ so that the rule is tested on any host:
// tests/cpp/shot_groups.cc). A call runs its shots in groups, all K steps of one group before
// the next, so that a step reads what the step before wrote from L2 instead of DRAM. Shots are
// independent: the order changes no result. A group's fields (`per_shot` bytes a shot, `shared`
// by all) must fit in kGroupL2Share of the L2 cache, and a group is as large as that allows (a
// group of small shots fills the device); where a single shot exceeds it but fits in
// kShotL2Share, the shots go one at a time; where none fits, all at once. H100 (50 MB of L2),
// forward ms by group size, 2026-11-25: 2D 1000^2 x 4 (8.8 MB a shot, 4.4 shared): 1 26.5, 2
// 27.2, 4 32.4; 700^2 x 8 (4.5, 2.2): 1 49.6, 2 37.5, 4 31.6, 8 35.0; 500^2 x 8 (2.4, 1.2): 1
// 36.2, 2 25.6, 8 18.4; 1400^2 x 4 (16.8, 8.4): 1 27.8, 2 32.0, 4 31.1; 2000^2 x 4 (33, 17): 1
// 37.3, 4 34.0; 3D 100^3 x 4 and 150^3 x 4 (26 and 74 MB a shot) 2-4% slower one at a time. A
// group's first step finds nothing in L2, so calls of fewer than kGroupSteps steps (boundary
// saving's one-step calls: 2D 1000^2 x 4 gradient 0.234 s in groups of one, 0.201 s at once)
// take all shots at once. SWEEP_CUDA_SHOT_GROUP=n (a positive integer) sets the group size
// instead, for any K.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace sweep {

constexpr double kGroupL2Share = 0.4, kShotL2Share = 0.5;
constexpr int64_t kGroupSteps = 4;

// The group size for `nshot` shots of K steps on a device with `l2` bytes of L2.
inline int64_t shot_group_size(int64_t nshot, int64_t K, int64_t per_shot, int64_t shared,
                               int64_t l2) {
  const double room = kGroupL2Share * double(l2) - double(shared);
  const int64_t fit =
      std::max<int64_t>(1, int64_t(room / double(std::max<int64_t>(per_shot, 1))));
  if (K < kGroupSteps || double(shared + per_shot) > kShotL2Share * double(l2) || fit >= nshot)
    return nshot;
  const int64_t groups = (nshot + fit - 1) / fit;
  return (nshot + groups - 1) / groups;  // groups of even size
}

// SWEEP_CUDA_SHOT_GROUP's value: a positive integer into n, else false.
inline bool parse_shot_group(const char* v, int64_t& n) {
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (end == v || *end || x < 1) return false;
  n = x;
  return true;
}

}  // namespace sweep
