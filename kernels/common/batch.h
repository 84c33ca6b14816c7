// Leading ("batch") dimensions of custom-call operands.
//
// Every operand is laid out as (*batch, *core). The batch dims of an input broadcast against the
// shot batch of the call (numpy rules, right-aligned, each dim 1 or equal). This is what makes
// `vmap_method="expand_dims"` work without copies: an unbatched model arrives with size-1 dims and
// is shared by every shot, a batched one is indexed per shot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace sweep {

namespace ffi = xla::ffi;

// Product of dims[begin:end).
inline int64_t prod(ffi::Span<const int64_t> dims, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= dims[i];
  return n;
}

// The batch dims of an operand whose trailing `core_rank` dims are its core.
inline std::vector<int64_t> batch_dims(ffi::Span<const int64_t> dims, size_t core_rank) {
  return std::vector<int64_t>(dims.begin(), dims.end() - core_rank);
}

// Element offset, per flat shot index, of the core block of an operand with dims `dims`
// (core = the trailing `core_rank` dims) broadcast against `shots` (the call's batch dims).
// Returns false and fills `err` when the batch dims do not broadcast.
inline bool shot_offsets(ffi::Span<const int64_t> dims, size_t core_rank,
                         const std::vector<int64_t>& shots, const char* name,
                         std::vector<int64_t>& out, std::string& err) {
  if (dims.size() < core_rank) {
    err = std::string(name) + ": rank too small";
    return false;
  }
  const size_t nb = dims.size() - core_rank;
  if (nb > shots.size()) {
    err = std::string(name) + ": more batch dims than the shot batch";
    return false;
  }
  const int64_t core = prod(dims, nb, dims.size());
  // Strides (in core blocks) of the input, aligned to the right of `shots`.
  std::vector<int64_t> stride(shots.size(), 0);
  int64_t s = 1;
  for (size_t i = 0; i < nb; ++i) {
    const size_t in_axis = nb - 1 - i;
    const size_t sh_axis = shots.size() - 1 - i;
    const int64_t d = dims[in_axis];
    if (d != 1 && d != shots[sh_axis]) {
      err = std::string(name) + ": batch dim " + std::to_string(d) +
            " does not broadcast against " + std::to_string(shots[sh_axis]);
      return false;
    }
    stride[sh_axis] = (d == 1) ? 0 : s;
    s *= d;
  }
  int64_t total = 1;
  for (int64_t d : shots) total *= d;
  out.assign(total, 0);
  for (int64_t f = 0; f < total; ++f) {
    int64_t rem = f, off = 0;
    for (size_t a = shots.size(); a-- > 0;) {
      off += (rem % shots[a]) * stride[a];
      rem /= shots[a];
    }
    out[f] = off * core;
  }
  return true;
}

// Integer index operands arrive as int32 (default JAX) or int64 (x64 mode).
inline bool read_indices(const ffi::AnyBuffer& buf, std::vector<int64_t>& out, std::string& err,
                         const char* name) {
  const size_t n = buf.element_count();
  out.resize(n);
  switch (buf.element_type()) {
    case ffi::DataType::S32: {
      const int32_t* p = reinterpret_cast<const int32_t*>(buf.untyped_data());
      for (size_t i = 0; i < n; ++i) out[i] = p[i];
      return true;
    }
    case ffi::DataType::S64: {
      const int64_t* p = reinterpret_cast<const int64_t*>(buf.untyped_data());
      for (size_t i = 0; i < n; ++i) out[i] = p[i];
      return true;
    }
    default:
      err = std::string(name) + ": expected int32 or int64 indices";
      return false;
  }
}

}  // namespace sweep
