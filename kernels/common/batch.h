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

#include "common/hd.h"
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

// Where each shot's core block of an operand starts: the operand's batch dims broadcast against
// the call's shot batch. Small and copyable, so a CUDA kernel can evaluate it per shot.
struct BatchMap {
  static constexpr int kMaxDims = 8;
  int n = 0;                  // shot batch rank
  int64_t dim[kMaxDims] = {};  // shot batch dims
  int64_t stride[kMaxDims] = {};  // elements per step along each dim (0: broadcast)

  // Whether shots have blocks of their own (some batch dim not broadcast).
  bool batched() const {
    for (int a = 0; a < n; ++a)
      if (stride[a]) return true;
    return false;
  }
  SWEEP_HD int64_t offset(int64_t shot) const {
    int64_t off = 0;
    for (int a = n - 1; a >= 0; --a) {
      off += (shot % dim[a]) * stride[a];
      shot /= dim[a];
    }
    return off;
  }
};

// BatchMap of an operand with dims `dims` (core = the trailing `core_rank` dims) broadcast
// against `shots`. Returns false and fills `err` when the batch dims do not broadcast.
inline bool batch_map(ffi::Span<const int64_t> dims, size_t core_rank,
                      const std::vector<int64_t>& shots, const char* name, BatchMap& out,
                      std::string& err) {
  if (dims.size() < core_rank) {
    err = std::string(name) + ": rank too small";
    return false;
  }
  const size_t nb = dims.size() - core_rank;
  if (nb > shots.size() || shots.size() > size_t(BatchMap::kMaxDims)) {
    err = std::string(name) + ": batch dims do not match the shot batch";
    return false;
  }
  out = BatchMap();
  out.n = int(shots.size());
  int64_t s = prod(dims, nb, dims.size());
  for (size_t i = 0; i < shots.size(); ++i) out.dim[i] = shots[i];
  for (size_t i = 0; i < nb; ++i) {
    const size_t in_axis = nb - 1 - i;
    const size_t sh_axis = shots.size() - 1 - i;
    const int64_t d = dims[in_axis];
    if (d != 1 && d != shots[sh_axis]) {
      err = std::string(name) + ": batch dim " + std::to_string(d) +
            " does not broadcast against " + std::to_string(shots[sh_axis]);
      return false;
    }
    out.stride[sh_axis] = (d == 1) ? 0 : s;
    s *= d;
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
