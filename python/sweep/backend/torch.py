"""Inspection of the Torch backend family. Every function is cheap and never raises; nothing
here imports torch until asked."""

from __future__ import annotations

from . import compiled


def is_available() -> bool:
    """Whether PyTorch imports."""
    try:
        import torch  # noqa: F401

        return True
    except Exception:
        return False


class cuda:  # noqa: N801 - a namespace: sweep.backend.torch.cuda.is_available()
    @staticmethod
    def is_available() -> bool:
        """Whether PyTorch sees a CUDA device (says nothing about sweep's CUDA kernels)."""
        try:
            import torch

            return bool(torch.cuda.is_available())
        except Exception:
            return False


def _versions() -> dict:
    """torch's versions, and JAX's (PropTorch(impl="c") runs the core through JAX's runtime);
    JAX's runtime is not started: that is not cheap."""
    import jax
    import torch

    return dict(torch=torch.__version__, torch_cuda=torch.version.cuda, torch_cuda_available=bool(torch.cuda.is_available()), jax=jax.__version__)


binding = compiled.Binding(_versions)
