"""Naming a wrong answer: which catalogued mistake, transpose or constant factor explains it.

The learner's array a is compared with wrong variants computed on the same inputs, with the
expected array e transposed, and with r·e for the least-squares factor r = ⟨a, e⟩ / ⟨e, e⟩; a
match within ``MATCH`` (relative) names the mistake. Only names and factors are returned, never e.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import backend as B
from npae.gradcheck import relative_error

__all__ = ["MATCH", "diagnose", "named_factors", "shape_hint", "swap_last_axes"]

#: A wrong variant, a transpose or a factor explains the learner's array when this close to it.
MATCH = 1e-6


def swap_last_axes(a):
    """a with its last two axes swapped (None for fewer than two axes)."""
    if a.ndim < 2:
        return None
    xp = array_namespace(a)
    return xp.permute_dims(a, (*range(a.ndim - 2), a.ndim - 1, a.ndim - 2))


def shape_hint(name, got, want) -> str:
    """Advice for an array of shape ``got`` where ``want`` was expected."""
    if len(got) > len(want):
        return (f"your {name} has an extra axis; a value or gradient has the shape stated in describe(), so "
                "reduce (sum) over the axis that should go.")
    if len(got) < len(want):
        return f"your {name} lost an axis; check which axis each sum runs over (axis=0 runs over the rows)."
    return "an axis has the wrong length; check which axis each sum or product runs over."


def diagnose(name, a, e, variants, factors) -> list:
    """[(mistake id, message)] that explain a: a catalogued variant, a transpose or a constant factor."""
    for mistake, v in variants:
        if v is None or tuple(v.shape) != tuple(e.shape) or relative_error(v, e) <= MATCH:
            continue
        if relative_error(a, v) <= MATCH:
            return [(mistake.id, mistake.message)]
    swapped = swap_last_axes(a)
    if swapped is not None and tuple(swapped.shape) == tuple(e.shape) and relative_error(swapped, e) <= MATCH:
        return [("transposed", f"your {name} is the transpose of the expected one; check the order of the product.")]
    return _factor(name, a, e, factors)


def named_factors(exercise, inputs) -> dict:
    """Named factors a wrong answer may be off by: 2, N (rows of the first array) and the exercise's own."""
    first = next(v for v in inputs.values() if B.is_host_array(v) or isinstance(v, list))
    first = first[0] if isinstance(first, list) else first
    n = first.shape[0]
    named = {
        "factor_2": ((2.0, "is off by a factor of 2 everywhere (twice the expected one)."),
                     (0.5, "is off by a factor of 2 everywhere (half the expected one).")),
        "missing_1/N": ((float(n), f"is N = {n} times the expected one: a missing 1/N (the batch mean) or "
                                   "an extra sum over the batch."),),
        "extra_1/N": ((1.0 / n, f"is 1/N = 1/{n} of the expected one: an extra division by N (a mean where "
                                "the exercise sums)."),),
    }
    if exercise.factors is not None:
        for key, pairs in exercise.factors(**inputs).items():
            named[key] = pairs
    return named


def _factor(name, a, e, named) -> list:
    """The sign and the named factor (or pair of factors) r with a = r·e, if a is a multiple of e."""
    xp = array_namespace(e)
    ee = float(xp.sum(e * e))
    if ee == 0.0:
        return []
    r = float(xp.sum(a * e)) / ee
    if relative_error(a, r * e) > MATCH:
        return []
    if abs(r) < 1e-12:
        return [("zero", f"your {name} is zero everywhere.")]
    found = [("sign", f"your {name} has the wrong sign everywhere.")] if r < 0 else []
    m = abs(r)
    if abs(m - 1.0) <= MATCH:
        return found
    flat = [(key, value, message) for key, pairs in named.items() for value, message in pairs]
    for key, value, message in flat:
        if abs(m - value) <= MATCH * value:
            return found + [(key, f"your {name} {message}")]
    for (k1, v1, m1), (k2, v2, m2) in ((p, q) for p in flat for q in flat if p[0] < q[0]):
        if abs(m - v1 * v2) <= MATCH * v1 * v2:
            return found + [(k1, f"your {name} {m1}"), (k2, f"  and it {m2}")]
    if e.size > 1:
        return found + [("constant_factor", f"your {name} is {m:.3g} times the expected one everywhere: a "
                                            "constant factor is wrong.")]
    return found
