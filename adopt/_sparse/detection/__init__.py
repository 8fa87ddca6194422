"""Global sparsity detection: which entries of a Jacobian or Hessian can be nonzero at any x.

The tracers of the three frameworks share one representation and one algebra:

- :mod:`.algebra`: dependency rows (a boolean CSR matrix per traced array) and every operation
  on them, with the Hessian accumulation (:class:`~.algebra.Trace`);
- :mod:`.kinds`: what each operation does to derivatives, NumPy ufuncs, JAX primitives and ATen
  operators side by side;
- :mod:`.values`: the traced value of the graph interpreters (JAX, PyTorch);
- :mod:`.diagnostics`: errors, warnings and their messages;
- :mod:`.numpy`, :mod:`.jax`, :mod:`.torch`: one folder per framework (its tracer or interpreter
  and its rule modules), each with ``jacobian_sparsity(f, x, contexts)`` and
  ``hessian_sparsity(f, x, contexts)``. Only :mod:`.jax` imports JAX, only :mod:`.torch` PyTorch.

The front classes (:class:`~adopt._sparse.detectors.TracerSparsityDetector` and the others) are
in :mod:`adopt._sparse.detectors`.
"""
