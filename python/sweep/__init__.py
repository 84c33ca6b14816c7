"""sweep: a differentiable wave-equation simulator (JAX-first, compiled C++/CUDA kernels).

    from sweep.equations import Acoustic
    from sweep.propagator.jax import PropJax

`import sweep` never fails because of the compiled core: if sweep._C is missing or broken the
pure-JAX path still works and `sweep.backend.jax.binding.diagnostics()` says why.
"""

from . import backend, equations
from .pml import CPML

__version__ = "0.1.0"
__all__ = ["backend", "equations", "CPML", "__version__"]
