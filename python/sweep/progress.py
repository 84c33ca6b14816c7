"""Progress bars (tqdm) for runs driven from Python.

    bar = Progress("forward", nt)
    prop(wavelet, sources, receivers, [vp], forward_callback=bar, callback_frequency=prop.chunk_length(nt))

`Progress` is a callback: it advances a bar as the run reaches each callback step, forwards or
backwards (a backward run counts from the last step down to 0). `track(iterable, desc)` is a bar
over a Python loop (shots, FWI iterations). Callbacks cut the time loop where they fire; a
frequency of `prop.chunk_length(nt)` (one checkpoint chunk) leaves the gradient's memory as it is.
"""

from __future__ import annotations

from tqdm.auto import tqdm


class Progress:
    """A forward or backward callback that advances a tqdm bar of nt - 1 steps."""

    needs_fields = False  # the run sends it no wavefields

    def __init__(self, desc: str, nt: int, disable: bool | None = False, **tqdm_kwargs):
        self.desc, self.nt = desc, int(nt)
        self.kwargs = dict(disable=disable, unit="step", **tqdm_kwargs)
        self.bar = None
        self.done = 0

    def __call__(self, state) -> None:
        done = state.step if state.direction == "forward" else self.nt - 1 - state.step
        if self.bar is None or done < self.done:  # a new run (jit calls it once per run)
            self.close()
            self.bar, self.done = tqdm(total=self.nt - 1, desc=self.desc, **self.kwargs), 0
        self.bar.update(done - self.done)
        self.done = done
        if state.is_last:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.nt - 1 - self.done)
            self.bar.close()
            self.bar = None


def track(iterable, desc: str | None = None, **tqdm_kwargs):
    """A progress bar over a Python loop."""
    return tqdm(iterable, desc=desc, **tqdm_kwargs)
