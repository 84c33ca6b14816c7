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


def as_array(name: str, x):
    """jnp array without silent dtype changes (float64 input with x64 disabled is an error)."""
    if isinstance(x, jax.Array) or is_traced(x):
        return x
    arr = np.asarray(x)
    if arr.dtype == np.float64 and not jax.config.jax_enable_x64:
        raise TypeError(
            f"{name}: got float64 data but JAX's x64 mode is off, so it would be silently rounded to "
            "float32; pass float32 data or enable x64 (jax.config.update('jax_enable_x64', True))"
        )
    if arr.dtype == np.int64 and not jax.config.jax_enable_x64:
        if arr.size and (arr.max() > np.iinfo(np.int32).max or arr.min() < np.iinfo(np.int32).min):
            raise ValueError(f"{name}: integer values do not fit int32 (x64 mode is off)")
        arr = arr.astype(np.int32)  # lossless: checked above
    return jnp.asarray(arr)


def float_array(name: str, x):
    x = as_array(name, x)
    if np.dtype(x.dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a float32 or float64 array, got dtype {x.dtype}")
    return x


def int_array(name: str, x, shape_desc: str, ndim: int):
    x = as_array(name, x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name}: expected integer grid indices {shape_desc}, got dtype {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected shape {shape_desc}, got {tuple(x.shape)}")
    return x


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
