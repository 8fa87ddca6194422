"""What every operation does to derivatives, for NumPy, JAX and PyTorch side by side.

Each table below is written as it reads: one row per :class:`Kind`, one column per framework,
with NumPy / ``scipy.special`` ufunc (or NumPy function) names, ``jax.lax`` primitive names and
ATen operator names (``torch.ops.aten``; in-place variants ``name_`` follow their operator); a
row goes on over the lines whose kind cell is empty. The tracers look names up in the
dictionaries built from the tables (:data:`NUMPY_UFUNCS`, :data:`JAX_PRIMITIVES`,
:data:`ATEN_OPS`, :func:`by_name`) and hand the kind to the dependency algebra
(:mod:`adopt._sparse.detection.algebra`), which turns it into dependency rows and Hessian terms.
The layout follows SparseConnectivityTracer.jl's ``operators.jl``.

Operations that need more than a kind have a rule of their own in their framework's folder:
JAX ``integer_pow`` (the exponent decides), ``abs`` (smooth on complex numbers) and ``top_k``;
ATen ``div`` (``rounding_mode``), ``where`` and ``masked_fill``; every data-movement operation.
ATen operators tagged ``pointwise`` and missing here are :attr:`Kind.NONLINEAR` (one operand:
the same as :attr:`Kind.UNARY`).
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Sequence

__all__ = [
    "Kind", "Ops", "POINTWISE", "REDUCTIONS", "SCANS", "SORTS", "by_name",
    "NUMPY_UFUNCS", "NUMPY_MULTI_OUTPUT", "NUMPY_REDUCE_UFUNCS", "NUMPY_ACCUMULATE_UFUNCS",
    "JAX_PRIMITIVES", "JAX_ZERO_DERIVATIVE", "ATEN_OPS",
]


class Kind(enum.Enum):
    """How an operation acts on first and second derivatives.

    For a point-wise operation of operands ``u, v, ...`` (a reduction, scan or sort applies the
    same to the members of each group):

    - ``ZERO``: the derivative vanishes almost everywhere (rounding, comparisons, bit
      operations): the result depends on nothing;
    - ``LINEAR`` and ``PIECEWISE`` (piecewise linear: ``abs``, ``max``, ``clip``): the union of
      the operands' dependencies, no Hessian term;
    - ``FIRST``: linear in the first operand only (``copysign``, ``ldexp``);
    - ``UNARY``: a smooth function of its one operand: that operand's own Hessian block;
    - ``MUL``: a product: Hessian terms between the operands, none within one; operands that
      are known zeros remove the dependency;
    - ``DIV``: ``u / v``: terms between ``u`` and ``v`` and within ``v``;
    - ``POW``: ``u ** v``: the block of ``u`` (none when the exponent is 0 or 1) and of ``v``;
    - ``NONLINEAR``: a smooth function of all operands: one Hessian block over all of them.

    Examples
    --------
    >>> from adopt._sparse.detection.kinds import Kind, NUMPY_UFUNCS, JAX_PRIMITIVES, ATEN_OPS
    >>> NUMPY_UFUNCS["multiply"], JAX_PRIMITIVES["mul"], ATEN_OPS["mul"]
    (<Kind.MUL: 'mul'>, <Kind.MUL: 'mul'>, <Kind.MUL: 'mul'>)
    """

    ZERO = "zero"
    LINEAR = "linear"
    PIECEWISE = "piecewise"
    FIRST = "first"
    UNARY = "unary"
    MUL = "mul"
    DIV = "div"
    POW = "pow"
    NONLINEAR = "nonlinear"


class Ops(NamedTuple):
    """One row of a table: operations of one kind, as each framework names them."""

    kind: Kind
    numpy: str = ""
    jax: str = ""
    torch: str = ""


def _table(text: str) -> tuple[Ops, ...]:
    """The rows of a table written as text: ``| kind | NumPy | jax.lax | ATen |``, a row
    continued on the following lines whose kind cell is empty."""
    rows: list[list[str]] = []
    for line in text.strip().splitlines()[2:]:
        kind, *names = (cell.strip() for cell in line.strip().strip("|").split("|"))
        if kind:
            rows.append([kind, "", "", ""])
        for k, cell in enumerate(names, start=1):
            rows[-1][k] = f"{rows[-1][k]} {cell}".strip()
    return tuple(Ops(Kind[kind.upper()], *names) for kind, *names in rows)


#: point-wise operations (ATen's unary and binary functions missing here are NONLINEAR)
POINTWISE = _table("""
| kind      | NumPy                        | jax.lax                     | ATen                         |
|-----------|------------------------------|-----------------------------|------------------------------|
| zero      | sign floor ceil trunc rint   | floor ceil round sign       | sign sgn floor ceil round    |
|           | fix spacing floor_divide     |                             | trunc floor_divide heaviside |
|           | heaviside                    |                             |                              |
| zero      | greater greater_equal less   | eq ne lt le gt ge eq_to     | eq ne lt le gt ge            |
|           | less_equal equal not_equal   | lt_to le_to                 |                              |
| zero      | isnan isinf isfinite signbit | is_finite                   | isnan isinf isfinite         |
|           | isnat                        |                             | isposinf isneginf signbit    |
|           |                              |                             | isin                         |
| zero      | logical_not logical_and      | and or not xor              | logical_and logical_or       |
|           | logical_or logical_xor       | population_count clz        | logical_xor logical_not      |
|           | invert bitwise_not           | shift_left                  | bitwise_and bitwise_or       |
|           | bitwise_and bitwise_or       | shift_right_arithmetic      | bitwise_xor bitwise_not      |
|           | bitwise_xor bitwise_count    | shift_right_logical         | bitwise_left_shift           |
|           | left_shift right_shift gcd   |                             | bitwise_right_shift          |
|           | lcm                          |                             |                              |
| zero      |                              | stop_gradient               |                              |
| linear    | add subtract negative        | add sub neg add_any         | add sub rsub neg positive    |
|           | positive                     |                             |                              |
| linear    | conjugate conj deg2rad       | real imag conj complex      | conj resolve_conj            |
|           | rad2deg degrees radians      |                             | resolve_neg real deg2rad     |
|           |                              |                             | rad2deg                      |
| linear    |                              | copy copy_p                 | clone alias lift_fresh_copy  |
|           |                              | reduce_precision            | detach detach_copy           |
|           |                              | convert_element_type        | alias_copy contiguous        |
| piecewise | absolute fabs maximum        | max min clamp rem           | abs relu maximum minimum     |
|           | minimum fmax fmin remainder  |                             | fmax fmin clamp clamp_min    |
|           | mod fmod                     |                             | clamp_max hardtanh remainder |
|           |                              |                             | fmod frac leaky_relu         |
|           |                              |                             | threshold                    |
| first     | copysign nextafter ldexp     | nextafter                   | copysign nextafter ldexp     |
| unary     | exp exp2 expm1 log log2      | exp exp2 log log1p expm1    |                              |
|           | log10 log1p sqrt cbrt square | sin cos tan tanh logistic   |                              |
|           | reciprocal sin cos tan       | sqrt rsqrt cbrt asin acos   |                              |
|           | arcsin arccos arctan sinh    | atan sinh cosh asinh acosh  |                              |
|           | cosh tanh arcsinh arccosh    | atanh square                |                              |
|           | arctanh sinc                 |                             |                              |
| unary     | expit logit erf erfc erfcx   | erf erfc erf_inv lgamma     |                              |
|           | erfinv erfcinv gamma gammaln | digamma bessel_i0e          |                              |
|           | loggamma digamma psi ndtr    | bessel_i1e                  |                              |
|           | ndtri log_ndtr log_expit i0  |                             |                              |
|           | i1 j0 j1 y0 y1 entr cosdg    |                             |                              |
|           | sindg tandg cotdg exprel     |                             |                              |
|           | spence dawsn wofz            |                             |                              |
| mul       | multiply                     | mul                         | mul                          |
| div       | divide true_divide           | div                         |                              |
| pow       | power float_power            | pow                         | pow float_power              |
| nonlinear | arctan2 hypot logaddexp      | atan2 igamma igammac        |                              |
|           | logaddexp2 xlogy xlog1py     | igamma_grad_a               |                              |
|           | rel_entr kl_div huber        | random_gamma_grad polygamma |                              |
|           | pseudo_huber beta betaln     | zeta                        |                              |
|           | binom boxcox boxcox1p        | regularized_incomplete_beta |                              |
""")

#: reductions: the kind of the operation within each group of reduced elements
REDUCTIONS = _table("""
| kind      | NumPy                        | jax.lax                     | ATen                         |
|-----------|------------------------------|-----------------------------|------------------------------|
| linear    | sum nansum mean nanmean      | reduce_sum                  | sum mean nansum nanmean      |
| piecewise | max amax nanmax min amin     | reduce_max reduce_min       | amax amin max min median     |
|           | nanmin ptp                   |                             | nanmedian mode               |
|           |                              |                             | kthvalue_reduce              |
| mul       | prod nanprod                 | reduce_prod                 | prod                         |
| nonlinear | std var nanstd nanvar        |                             | var std var_mean std_mean    |
|           |                              |                             | logsumexp                    |
| zero      | any all                      |                             | any all argmax argmin        |
|           |                              |                             | count_nonzero                |
""")

#: cumulative reductions: element j of a group depends on elements 0..j
SCANS = _table("""
| kind      | NumPy                        | jax.lax                     | ATen                         |
|-----------|------------------------------|-----------------------------|------------------------------|
| linear    | cumsum nancumsum             | cumsum cummax cummin        | cumsum cummax cummin         |
|           | cumulative_sum               |                             |                              |
| mul       | cumprod nancumprod           | cumprod                     | cumprod                      |
|           | cumulative_prod              |                             |                              |
| nonlinear |                              | cumlogsumexp                | logcumsumexp                 |
""")

#: sorting and normalising: every element of a group depends on the whole group
SORTS = _table("""
| kind      | NumPy                        | jax.lax                     | ATen                         |
|-----------|------------------------------|-----------------------------|------------------------------|
| piecewise | sort partition               | sort                        | sort topk kthvalue           |
| nonlinear |                              |                             | _softmax _log_softmax        |
|           |                              |                             | softmax log_softmax          |
""")


def by_name(table: Sequence[Ops], framework: str) -> dict[str, Kind]:
    """``{name: kind}`` of one framework's column; a name in two rows of different kinds is
    an error in the table.

    Examples
    --------
    >>> from adopt._sparse.detection.kinds import SCANS, by_name
    >>> by_name(SCANS, "jax")["cumlogsumexp"]
    <Kind.NONLINEAR: 'nonlinear'>
    """
    out: dict[str, Kind] = {}
    for row in table:
        for name in getattr(row, framework).split():
            if out.setdefault(name, row.kind) is not row.kind:
                raise ValueError(f"{framework} {name!r} is both {out[name]} and {row.kind}")
    return out


NUMPY_UFUNCS = by_name(POINTWISE, "numpy")
JAX_PRIMITIVES = by_name(POINTWISE, "jax")
ATEN_OPS = by_name(POINTWISE, "torch")

#: NumPy ufuncs with two outputs: the kind of each
NUMPY_MULTI_OUTPUT: dict[str, tuple[Kind, Kind]] = {
    "divmod": (Kind.ZERO, Kind.PIECEWISE),
    "modf": (Kind.LINEAR, Kind.ZERO),
    "frexp": (Kind.LINEAR, Kind.ZERO),
}
#: ``ufunc.reduce`` / ``ufunc.accumulate`` with a rule: a reduction by a ufunc has its kind
NUMPY_REDUCE_UFUNCS = frozenset("add multiply maximum minimum fmax fmin logical_and logical_or".split())
NUMPY_ACCUMULATE_UFUNCS = frozenset("add multiply maximum minimum fmax fmin".split())
#: JAX primitives through which no derivative flows (the liveness analysis stops at them)
JAX_ZERO_DERIVATIVE = frozenset(n for n, k in JAX_PRIMITIVES.items() if k is Kind.ZERO)
