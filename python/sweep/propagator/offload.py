"""Where boundary saving keeps its strips, and how they get there and back.

The forward hands over the strips of `transfer_interval` steps at a time (a group); the backward
asks for the groups in reverse, one group ahead of the one it works on.

    device       the groups stay in the device array the forward's scan stacks them into
    pinned_host  the same stack in page-locked host memory: inside the program each group is
                 moved with `device_put` to the host memory space and back, which XLA turns into
                 asynchronous copies beside the compute
    host, disk   host callbacks: each group is handed to Python and kept as a NumPy array, or
                 written to a file in a directory of its own; the callback returns a key, which
                 the backward's read takes (so the read is ordered after the write). A group is
                 dropped as it is read; a run's directory goes with its last group, on a failed
                 write or read, and at exit for runs whose backward never came.
"""

from __future__ import annotations

import atexit
import errno
import itertools
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jax.experimental import io_callback

LOCATIONS = ("device", "pinned_host", "host", "disk")


@dataclass
class _Run:
    directory: str | None  # disk: this run's own directory
    keys: set = field(default_factory=set)


class _Groups:
    """The groups this process keeps on the host or on disk, by key. XLA calls in from its own
    threads, hence the lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._keys = itertools.count(1)  # 0 means "no group": reads give zeros
        self._runs = itertools.count(1)
        self.runs: dict[int, _Run] = {}
        self.items: dict[int, tuple[int, object]] = {}  # key -> (run, array or file path)

    def open(self, directory: str | None) -> int:
        if directory is not None:
            try:
                directory = tempfile.mkdtemp(prefix="sweep-strips-", dir=directory)
            except OSError as e:
                raise OSError(e.errno, f"boundary saving: cannot create a directory in {directory!r} ({e.strerror})") from e
        with self._lock:
            run = next(self._runs)
            self.runs[run] = _Run(directory)
        return run

    def write(self, run: int, group: np.ndarray) -> int:
        with self._lock:
            key = (next(self._keys) - 1) % (2**31 - 1) + 1  # an int32 > 0
            entry = self.runs.get(run)
        if entry is None:
            raise RuntimeError(f"boundary saving: run {run} is gone (its files were removed after an earlier failure)")
        if entry.directory is None:
            value = group.copy()  # the callback's array is XLA's buffer, reused after it returns
        else:
            value = os.path.join(entry.directory, f"{key}.npy")
            try:
                _write_file(value, group)
            except OSError as e:
                self.discard(run)
                raise OSError(
                    e.errno,
                    f"boundary saving: writing {group.nbytes} bytes to {value!r} failed ({e.strerror or e}); "
                    "this run's files are removed. Free space there or choose another BoundaryOptions(directory=...)",
                ) from e
        with self._lock:
            entry.keys.add(key)
            self.items[key] = (run, value)
        return key

    def read(self, key: int, shape, dtype) -> np.ndarray:
        if key == 0:
            return np.zeros(shape, dtype)
        with self._lock:
            run, value = self.items.pop(key, (None, None))
        if run is None:
            raise RuntimeError(
                f"boundary saving: stored group {key} is gone; each forward's strips serve one backward "
                "(they are dropped as it reads them)"
            )
        if isinstance(value, str):
            try:
                with open(value, "rb") as f:
                    array = np.load(f)
            except OSError as e:
                self.discard(run)
                raise OSError(e.errno, f"boundary saving: reading {value!r} failed ({e.strerror or e}); this run's files are removed") from e
            os.remove(value)
        else:
            array = value
        with self._lock:
            entry = self.runs.get(run)  # gone if another thread's failure discarded it
            if entry is not None:
                entry.keys.discard(key)
            done = entry is not None and not entry.keys
        if done:
            self.discard(run)
        return array

    def discard(self, run: int) -> None:
        """Drop a run's groups and remove its directory."""
        with self._lock:
            entry = self.runs.pop(run, None)
            if entry is None:
                return
            for key in entry.keys:
                self.items.pop(key, None)
        if entry.directory is not None:
            shutil.rmtree(entry.directory, ignore_errors=True)

    def discard_all(self) -> None:
        for run in list(self.runs):
            self.discard(run)


def _write_file(path: str, group: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, group)


GROUPS = _Groups()
atexit.register(GROUPS.discard_all)


def check_directory(directory: str, nbytes: int) -> None:
    """Before a run: `directory` exists, takes files, and has room for `nbytes`."""
    where = f"BoundaryOptions(directory={directory!r})"
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"{where}: no such directory")
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise PermissionError(e.errno, f"{where}: cannot write there ({e.strerror})") from e
    free = shutil.disk_usage(directory).free
    if free < nbytes:
        raise OSError(
            errno.ENOSPC,
            f"{where}: boundary saving needs {nbytes} bytes ({nbytes / 2**30:.3g} GiB) there, "
            f"{free} bytes ({free / 2**30:.3g} GiB) are free",
        )


class Offload:
    """Moves groups (K, B, 2, n) of stored strips between the program and `location`."""

    def __init__(self, location: str = "device", directory: str | None = None):
        if location not in LOCATIONS:
            raise ValueError(f"location: expected one of {LOCATIONS}, got {location!r}")
        self.location, self.directory = location, directory

    @property
    def callbacks(self) -> bool:
        return self.location in ("host", "disk")

    def begin(self):
        """At the forward's start: the run the groups belong to (a traced int32), or None."""
        if not self.callbacks:
            return None
        directory = self.directory

        def open_run():
            return np.int32(GROUPS.open(directory))

        return io_callback(open_run, jax.ShapeDtypeStruct((), jnp.int32))

    def put(self, run, group):
        """In the forward: what the scan stacks for one group."""
        if self.location == "device":
            return group
        if self.location == "pinned_host":
            return jax.device_put(group, jax.memory.Space.Host)
        return _write(run, group)

    def get(self, stacked, u, like: jax.ShapeDtypeStruct):
        """In the backward: group u on the device (u = -1: no group; its value is not used, and
        host and disk read nothing); `stacked` is what the forward's scan stacked, flat over the
        groups."""
        if not self.callbacks:
            group = stacked[jnp.maximum(u, 0)]
            if self.location == "pinned_host":
                group = jax.device_put(group, jax.memory.Space.Device)
            return group
        key = jnp.where(u >= 0, stacked[jnp.maximum(u, 0)], 0)
        return _reader(like.shape, np.dtype(like.dtype))(key)


# Under vmap, a batch of groups is written and read as one array by one callback; the key is the
# batch's, repeated. (JAX's own batching calls back once per element in a loop: on the H100 that
# loop read another element's group.)
@custom_vmap
def _write(run, group):
    return io_callback(lambda r, g: np.int32(GROUPS.write(int(r), np.asarray(g))), jax.ShapeDtypeStruct((), jnp.int32), run, group)


@_write.def_vmap
def _write_batch(axis_size, in_batched, run, group):
    if in_batched[0]:
        raise ValueError("boundary saving: the run of a batch of groups must be one run")
    group = group if in_batched[1] else jnp.broadcast_to(group, (axis_size,) + group.shape)
    return jnp.broadcast_to(_write(run, group), (axis_size,)), True


@lru_cache(maxsize=None)
def _reader(shape: tuple, dtype: np.dtype):
    """The read of a group of this shape (key 0: zeros), batching as `_write` does."""

    @custom_vmap
    def read(key):
        return io_callback(lambda k: GROUPS.read(int(k), shape, dtype), jax.ShapeDtypeStruct(shape, dtype), key)

    @read.def_vmap
    def read_batch(axis_size, in_batched, key):
        batch = _reader((axis_size,) + shape, dtype)
        return batch(key[0] if in_batched[0] else key), True

    return read
