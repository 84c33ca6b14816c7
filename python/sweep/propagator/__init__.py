"""Propagators: PropJax (JAX-first); the shared time schedule and the compiled-kernel glue."""
