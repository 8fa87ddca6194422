"""The ``--plot`` figure of ``adopt problems``: convergence histories and a colored sparsity pattern.

matplotlib is optional and imported here only, when a plot is asked for.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import adopt
from adopt.problems._problem import Outcome, Problem

__all__ = ["plot"]

_YLABEL = {"least_squares": "|r|²", "root": "|F|", "minimize": "max |grad f|", "ode": "step size",
           "scalar": "|g|", "nlp": "residual"}


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise adopt.MissingDependencyError(
            "adopt problems --plot needs matplotlib: pip install matplotlib") from e
    return plt


def _sparse_example(problems: Sequence[Problem], backend: Any) -> tuple[str, Any] | None:
    """The pattern and column colors of the Jacobian (df/dy for an ODE) of the largest sparse
    problem of the run with at most 2500 unknowns (a pattern that still shows at figure size)."""
    candidates = [p for p in problems if p.sparse and p.kind in ("root", "ode", "least_squares")
                  and p.n <= 2500]
    if not candidates:
        return None
    p = max(candidates, key=lambda q: q.n)
    f = (lambda y: p.fun(p.t_span[0], y)) if p.kind == "ode" else p.fun
    prep = adopt.prepare_jacobian(f, adopt.AutoSparse(backend), p.x0)
    return p.name, (adopt.sparsity_pattern(prep), adopt.column_colors(prep), adopt.ncolors(prep))


def plot(outcomes: Sequence[Outcome], problems: Sequence[Problem], backend: Any, path: str) -> None:
    """Write the figure to ``path``: one panel of histories per kind, and a spy plot of a sparse
    Jacobian whose nonzeros are colored by the color of their column."""
    plt = _pyplot()
    kinds = sorted({o_kind for o_kind in (_kind(o, problems) for o in outcomes) if o_kind})
    example = _sparse_example(problems, backend)
    panels = len(kinds) + (example is not None)
    if not panels:
        raise ValueError("adopt problems --plot: no solved problem to plot")
    ncols = min(panels, 3)
    nrows = -(-panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 4 * nrows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    for ax, kind in zip(axes, kinds):
        for o in outcomes:
            if _kind(o, problems) == kind and len(o.history) > 1:
                h = np.abs(np.asarray(o.history))
                ax.semilogy(np.maximum(h, 1e-20 * h.max()), lw=0.8,  # an exact 0 at the bottom
                            label=f"{o.problem} {o.backend}")
        ax.set(title=kind, xlabel="iteration" if kind != "ode" else "step", ylabel=_YLABEL.get(kind, ""))
        if 0 < len(ax.lines) <= 12:
            ax.legend(fontsize=6)
    if example is not None:
        name, (pattern, colors, k) = example
        ax = axes[panels - 1]
        rows, cols = pattern.nonzero()
        size = max(0.2, min(20.0, 4e3 / pattern.shape[0]))
        ax.scatter(cols, rows, c=colors[cols] if colors is not None else "k", s=size, cmap="tab20",
                   marker="s", linewidths=0)
        ax.set_title(f"{name}: {pattern.nnz} nonzeros, {k} colors", fontsize=9)
        ax.set(xlabel="column", ylabel="row")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _kind(o: Outcome, problems: Sequence[Problem]) -> str | None:
    return next((p.kind for p in problems if p.name == o.problem), None)
