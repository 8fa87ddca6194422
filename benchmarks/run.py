"""Dense benchmarks: the prepared-call cost of every operator, adopt against the bare framework.

For each operator and backend, and each size n, one process times the prepared adopt call and
the bare framework doing the same work (``jax.jit(jax.grad(f))``, eager ``torch.autograd`` or
``torch.func``, whichever is faster, SciPy's ``approx_derivative``), interleaved, and writes
``benchmarks/results/dense.csv`` and ``dense.md``.

    python benchmarks/run.py              # full run, a few minutes on 2 cores
    python benchmarks/run.py --quick      # n = 10, 1000 (dense matrices 10, 100)
    python benchmarks/run.py --sizes 1000 --operators gradient,hvp --backends AutoJAX

Sizes: gradient, hvp, pushforward and pullback at n = 10, 1000, 100000; jacobian and hessian
(dense) and finite differences at n = 10, 100, 1000; derivative and second derivative at a
scalar. ``--sizes`` sets the first list; the dense list is then its sizes up to 1000 unless
``--matrix-sizes`` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by `adopt bench` or a test
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import dense_cases as cases  # noqa: E402
from _harness import parse_sizes, parser, report, setup_frameworks  # noqa: E402

QUICK_SIZES = (10, 1000)
QUICK_MATRIX_SIZES = (10, 100)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dense benchmarks; return 0, or 1 if adopt and a baseline disagreed."""
    p = parser("Dense benchmarks: prepared adopt calls against the bare framework.")
    p.add_argument("--matrix-sizes", type=parse_sizes, default=None, metavar="N,N,...",
                   help="sizes for dense jacobian/hessian and finite differences "
                        "(default 10,100,1000; quick 10,100)")
    args = p.parse_args(argv)
    setup_frameworks()
    sizes = args.sizes or (QUICK_SIZES if args.quick else cases.DEFAULT_SIZES)
    if args.matrix_sizes:
        matrix = args.matrix_sizes
    elif args.sizes:
        matrix = tuple(n for n in args.sizes if n <= 1000) or (10,)
    else:
        matrix = QUICK_MATRIX_SIZES if args.quick else cases.DEFAULT_MATRIX_SIZES
    select = dict(backends=args.backends or cases.BACKENDS,
                  operators=args.operators or cases.VECTOR_OPERATORS + cases.MATRIX_OPERATORS
                  + cases.SCALAR_OPERATORS)
    _validate(select["backends"], cases.BACKENDS, "backend")
    _validate(select["operators"], cases.VECTOR_OPERATORS + cases.MATRIX_OPERATORS
              + cases.SCALAR_OPERATORS, "operator")
    specs = cases.dense_specs(**select, sizes=sizes, matrix_sizes=matrix,
                               numpy_input_n=1000 if 1000 in sizes else None)
    skipped = cases.dense_skipped(**select, sizes=sizes, matrix_sizes=matrix)
    return report(specs, "dense", "adopt dense benchmarks: prepared call vs bare framework",
                  args, cases.DENSE_NOTES, skipped)


def _validate(given: Sequence[str], allowed: Sequence[str], what: str) -> None:
    for g in given:
        if g not in allowed:
            raise SystemExit(f"run.py: unknown {what} {g!r}; choose from {', '.join(allowed)}")


if __name__ == "__main__":
    sys.exit(main())
