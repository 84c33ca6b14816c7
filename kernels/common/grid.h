// The storage grid shared by every equation: the physical model, `abcn` PML cells on each face
// (none on a free-surface top), and a halo of `half = order/2` cells that stays zero (or holds the
// mirror image of the field above a free surface); past x's high halo, `xpad` more cells that
// stay zero pad the rows to whole 16-byte vectors (sweep.grid.Grid). 2D runs as 3D with an
// inactive middle axis.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/hd.h"

namespace sweep {

struct Axis {
  int64_t size = 1;      // storage cells, halo included
  int64_t stride = 1;    // elements between neighbours along this axis
  int64_t begin = 0;     // first updated cell
  int64_t end = 1;       // one past the last updated cell
  int64_t pml_lo = 0;    // PML cells at the low end (from begin) ...
  int64_t pml_hi = 0;    // ... and at the high end (up to end)
  int64_t band_lo = 0;   // cells in [begin, band_lo) use the PML formula ...
  int64_t band_hi = 1;   // ... and so do cells in [band_hi, end): reach_lo/hi(2 * half)
  bool active = false;
  int slot = -1;         // index of this axis among the active ones (profile row)
  int64_t wstride = 0;   // stride of this axis in the halo-free layout of W (Grid::w_index)
  int64_t dead = 0;      // cells past the high halo (x: the rows' padding)

  // Whether one of the n cells from i lies in the band.
  SWEEP_HD bool in_band(int64_t i, int64_t n = 1) const { return i < band_lo || i + n > band_hi; }
  // The first cell past the low PML, and the first cell of the high one, that terms reaching
  // `reach` cells past the PML leave alone (begin / end where there is no PML).
  SWEEP_HD int64_t reach_lo(int64_t reach) const {
    return pml_lo > 0 ? (begin + pml_lo + reach < end ? begin + pml_lo + reach : end) : begin;
  }
  SWEEP_HD int64_t reach_hi(int64_t reach) const {
    return pml_hi > 0 ? (end - pml_hi - reach > begin ? end - pml_hi - reach : begin) : end;
  }
};

struct Grid {
  int ndim = 2;
  int half = 1;
  bool free_surface = false;
  Axis ax[3];  // z, y, x (y inactive in 2D)
  int64_t cells = 0;
  int64_t smax = 0;  // profile row length
  int64_t wcells = 0;  // cells of the halo-free layout of the per-step stencil sums W

  // Index in W's layout (the storage grid without its halo: the PML and the model) of the
  // updated cell c (z, y, x). W holds a field per step, so it leaves out the halo, which no
  // step updates (a free-surface row, never updated either, keeps a slot that nothing reads).
  SWEEP_HD int64_t w_index(const int64_t c[3]) const {
    int64_t i = 0;
    for (int a = 0; a < 3; ++a)
      if (ax[a].active) i += (c[a] - half) * ax[a].wstride;
    return i;
  }
  // W's extent along axis a.
  SWEEP_HD int64_t w_size(int a) const {
    return ax[a].active ? ax[a].size - 2 * half - ax[a].dead : 1;
  }

  // The updated cells [lo, hi) of a step: all of them, or only the physical model's (the PML's
  // left as they are).
  void update_range(bool physical_only, int64_t (&lo)[3], int64_t (&hi)[3]) const {
    for (int a = 0; a < 3; ++a) {
      lo[a] = physical_only ? ax[a].reach_lo(0) : ax[a].begin;
      hi[a] = physical_only ? ax[a].reach_hi(0) : ax[a].end;
    }
  }

  // `dims` are the ndim storage dims, in array-axis order, x's with its `xpad` dead cells.
  static Grid make(int ndim, const int64_t* dims, int half, int64_t abcn, bool free_surface,
                   int64_t xpad) {
    Grid g;
    g.ndim = ndim;
    g.half = half;
    g.free_surface = free_surface;
    const int slots[3] = {0, ndim == 3 ? 1 : -1, ndim - 1};
    int64_t stride = 1, wstride = 1;
    for (int a = 2; a >= 0; --a) {
      Axis& x = g.ax[a];
      x.slot = slots[a];
      x.active = x.slot >= 0;
      x.stride = stride;
      if (!x.active) continue;
      x.size = dims[x.slot];
      x.dead = a == 2 ? xpad : 0;
      stride *= x.size;
      x.wstride = wstride;
      wstride *= g.w_size(a);
      g.smax = std::max(g.smax, x.size);
      const bool top_free = (a == 0 && free_surface);
      const int64_t pml_lo = top_free ? 0 : abcn;
      // The free-surface row (first physical row) is held at zero: not updated.
      x.begin = half + (top_free ? 1 : 0);
      x.end = x.size - half - x.dead;
      x.pml_lo = pml_lo;
      x.pml_hi = abcn;
      // Adjoint terms reach 2*half cells past the PML (profile derivative, then the stencil).
      x.band_lo = x.reach_lo(2 * half);
      x.band_hi = x.reach_hi(2 * half);
    }
    g.cells = stride;
    g.wcells = wstride;
    return g;
  }
};

}  // namespace sweep
