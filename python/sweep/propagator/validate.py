"""Early, precise errors for bad input. Each message names the argument, what was expected
and what was given. Values known in Python are checked at once; values traced under jit are
checked at run time with `equinox.error_if` (same message)."""

from __future__ import annotations

import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def check(x, bad, message: str, exc=ValueError):
    """Raise `exc(message)` now if `bad` is known to be true, else guard `x` at run time."""
    if is_traced(bad):
        return eqx.error_if(x, bad, message)
    if bool(bad):
        raise exc(message)
    return x


def positive_number(name: str, value, integer=False, allow_zero=False):
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        what = "an integer" if integer else "a finite number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected {what} {bound}, got {value!r}")
    return int(value) if integer else float(value)


def require_x64(name: str, dtype) -> None:
    """float64 data reaching JAX with x64 off would be silently rounded: an error instead."""
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        raise TypeError(
            f"{name}: got float64 data but JAX's x64 mode is off, so it would be silently rounded to "
            "float32; pass float32 data or enable x64 (jax.config.update('jax_enable_x64', True))"
        )


def as_array(name: str, x):
    """jnp array without silent dtype changes (float64 input with x64 disabled is an error)."""
    if isinstance(x, jax.Array) or is_traced(x):
        return x
    arr = np.asarray(x)
    require_x64(name, arr.dtype)
    if arr.dtype == np.int64 and not jax.config.jax_enable_x64:
        if arr.size and (arr.max() > np.iinfo(np.int32).max or arr.min() < np.iinfo(np.int32).min):
            raise ValueError(f"{name}: integer values do not fit int32 (x64 mode is off)")
        arr = arr.astype(np.int32)  # lossless: checked above
    return jnp.asarray(arr)


def np_dtype(x):
    """x's dtype as a NumPy dtype (JAX, NumPy and Torch arrays), or its name if NumPy has none."""
    try:
        return np.dtype(x.dtype)
    except TypeError:
        name = str(x.dtype).removeprefix("torch.")
        try:
            return np.dtype(name)
        except TypeError:
            return name


def float_array(name: str, x):
    x = as_array(name, x)
    check_float(name, x)
    return x


def check_float(name: str, x):
    if np_dtype(x) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a float32 or float64 array, got dtype {np_dtype(x)}")


def int_array(name: str, x, shape_desc: str, ndim: int):
    """Check (not convert) integer indices of `ndim` dimensions."""
    if not np.issubdtype(np_dtype(x), np.integer):
        raise TypeError(f"{name}: expected integer grid indices {shape_desc}, got dtype {np_dtype(x)}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected shape {shape_desc}, got {tuple(x.shape)}")
    return x


def check_models(names, models, shape):
    """Shapes and dtypes of the equation's models (already float arrays). Returns the dtype."""
    nd = len(shape)
    dtype = np_dtype(models[0])
    for i, m in enumerate(models):
        if np_dtype(m) != dtype:
            raise TypeError(f"models[{i}] ({names[i]}): dtype {np_dtype(m)} differs from models[0] dtype {dtype}")
        if tuple(m.shape[-nd:]) != tuple(shape) or m.ndim not in (nd, nd + 1):
            raise ValueError(f"models[{i}] ({names[i]}): expected shape {tuple(shape)} or (B, *{tuple(shape)}), got {tuple(m.shape)}")
    return dtype


def models_list(names, models):
    if not isinstance(models, (list, tuple)):
        raise TypeError(f"models: expected a list of {len(names)} array(s) {list(names)}, got {type(models).__name__}")
    if len(models) != len(names):
        raise ValueError(f"models: expected {len(names)} array(s) {list(names)}, got {len(models)}")
    return list(models)


def check_acquisition(shape, wavelet, sources, receivers, dtype, models):
    """Shapes and dtypes of wavelet (a float array), sources and receivers (integer arrays), and
    the per-shot models' batch size. Returns the number of shots (`locations` checks values)."""
    nd = len(shape)
    int_array("sources", sources, f"(B, {nd})", 2)
    if sources.shape[1] != nd:
        raise ValueError(f"sources: expected shape (B, {nd}), got {tuple(sources.shape)}")
    nshot = sources.shape[0]
    if nshot < 1:
        raise ValueError("sources: expected at least one shot, got shape (0, ...)")
    int_array("receivers", receivers, f"({nshot}, nrec, {nd})", 3)
    if receivers.shape[0] != nshot or receivers.shape[2] != nd or receivers.shape[1] < 1:
        raise ValueError(f"receivers: expected shape ({nshot}, nrec >= 1, {nd}), got {tuple(receivers.shape)}")
    if np_dtype(wavelet) != dtype:
        raise TypeError(f"wavelet: dtype {np_dtype(wavelet)} differs from the models' dtype {dtype}")
    if wavelet.ndim not in (1, 2) or (wavelet.ndim == 2 and wavelet.shape[0] != nshot) or wavelet.shape[-1] < 1:
        raise ValueError(f"wavelet: expected shape (nt,) or ({nshot}, nt) with nt >= 1, got {tuple(wavelet.shape)}")
    for i, m in enumerate(models):
        if m.ndim == nd + 1 and m.shape[0] != nshot:
            raise ValueError(f"models[{i}]: per-shot models need a leading axis of {nshot} (the shots), got {m.shape[0]}")
    return nshot


def speed_values(valid: bool, vmax: float, dt: float, limit: float, where: str) -> None:
    """Velocities known in Python: all finite and > 0, and dt within the stability limit
    (`limit` = dt_max * v_max, a constant of the scheme; `where` describes the scheme)."""
    if not valid:
        raise ValueError("models[0] (vp): velocities must be finite and > 0 m/s")
    if dt > limit / vmax:
        raise ValueError(
            f"dt: {dt:g} s is above the stability limit; the largest stable dt for v_max={vmax:g} m/s, "
            f"{where} is {limit / vmax:.6g} s"
        )


def locations(name: str, loc, shape: tuple[int, ...], free_surface: bool):
    """Check integer cell indices (..., ndim) lie inside the model (and below a free surface)."""
    lo = np.array([1 if (a == 0 and free_surface) else 0 for a in range(len(shape))])
    hi = np.array(shape)
    if not is_traced(loc):
        arr = np.asarray(loc)
        bad = (arr < lo) | (arr >= hi)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad.any(axis=-1))[0])
            msg = (
                f"{name}: location {arr[first].tolist()} at index {first} is outside the model "
                f"(valid: 0 <= index < {tuple(shape)} per axis)"
            )
            if free_surface and (arr[..., 0] == 0).any():
                msg += "; with free_surface=True row 0 is the pressure-release surface (p = 0), use z >= 1"
            raise ValueError(msg)
        return loc
    bad = jnp.any((loc < jnp.asarray(lo)) | (loc >= jnp.asarray(hi)))
    surface = "; row 0 is the free surface (p = 0), use z >= 1" if free_surface else ""
    return eqx.error_if(loc, bad, f"{name}: a location is outside the model (valid: 0 <= index < {tuple(shape)}){surface}")
