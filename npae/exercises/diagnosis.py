"""Naming a wrong answer: which catalogued mistake, transpose or constant factor explains it.

The learner's array a is compared with wrong variants computed on the same inputs, with the
expected array e transposed, and with r·e for the least-squares factor r = ⟨a, e⟩ / ⟨e, e⟩; a
match within ``MATCH`` (relative) names the mistake. Only names and factors are returned, never e.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from npae import backend as B
from npae.gradcheck import relative_error

__all__ = ["APPROXIMATE", "MATCH", "diagnose", "diagnose_shape", "named_factors", "shape_hint", "swap_last_axes"]

#: A wrong variant, a transpose or a factor explains the learner's array when this close to it.
MATCH = 1e-6
#: A wrong array closer than this to the expected one, explained by nothing else, is an approximation.
APPROXIMATE = 1e-3
#: A catalogued variant may also come with the sign or a factor of 2 wrong: (r, extra ids).
_VARIANT_FACTORS = ((-1.0, ("sign",)), (2.0, ("factor_2",)), (0.5, ("factor_2",)), (-2.0, ("sign", "factor_2")),
                    (-0.5, ("sign", "factor_2")))
_AXIS_WORDS = {0: "axis 0 (the rows)", 1: "axis 1", 2: "axis 2"}


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


def _usable(v, e) -> bool:
    return v is not None and tuple(v.shape) == tuple(e.shape) and relative_error(v, e) > MATCH


def diagnose(name, a, e, variants, factors) -> list:
    """[(mistake id, message)] that explain a: a catalogued variant (possibly with the sign or a factor 2
    wrong too), a transpose, a constant factor, or, failing those, a near miss (an approximation)."""
    for mistake, v in variants:
        if _usable(v, e) and relative_error(a, v) <= MATCH:
            return [(mistake.id, mistake.message)]
    swapped = swap_last_axes(a)
    if swapped is not None and tuple(swapped.shape) == tuple(e.shape) and relative_error(swapped, e) <= MATCH:
        return [("transposed", f"your {name} is the transpose of the expected one; look at the order of the product.")]
    found = _factor(name, a, e, factors)
    if found:
        return found
    for mistake, v in variants:
        if not _usable(v, e):
            continue
        for r, extra in _VARIANT_FACTORS:
            if relative_error(a, r * v) <= MATCH:
                words = {"sign": "the sign is wrong too", "factor_2": "and it is off by a factor of 2"}
                return [(mistake.id, mistake.message)] + [(x, f"  and: {words[x]}.") for x in extra]
    err = relative_error(a, e)
    xp = array_namespace(e)
    if e.ndim > 0 and e.size > 3:
        right = xp.abs(a - e) <= 1e-9 * (xp.abs(e) + xp.abs(a)) + 1e-300
        share = float(xp.mean(xp.astype(right, e.dtype)))
        if 0.2 <= share < 1.0 and err >= APPROXIMATE:
            return [("partly_right", f"your {name} is right on {share:.0%} of its entries and wrong on the rest: look "
                                     "at what treats some entries differently (a where, a clip, a mask, a sign or "
                                     "an absolute value, one row or column).")]
    if err < APPROXIMATE:
        return [("approximate", f"your {name} is close to the expected values (relative error {err:.0e}) but not "
                                "exact: an approximation where an exact formula belongs (a finite difference, "
                                "a clipped value, an ε added inside a log or a root).")]
    return []


def _reductions(arr):
    """(how, axis, reduced array) for the sum and the mean of ``arr`` over each axis."""
    if arr.ndim == 0:
        return
    xp = array_namespace(arr)
    for axis in range(arr.ndim):
        yield "sum", axis, xp.sum(arr, axis=axis)
        yield "mean", axis, xp.mean(arr, axis=axis)
    if arr.ndim > 1:
        yield "sum", None, xp.sum(arr)
        yield "mean", None, xp.mean(arr)


def _close(a, b) -> bool:
    return tuple(a.shape) == tuple(b.shape) and relative_error(a, b) <= MATCH


def diagnose_shape(name, a, e, variants) -> list:
    """[(mistake id, message)] for an array a of another shape than e: a catalogued variant, a transpose,
    a reduction too many or too few, a row that was not broadcast; else advice on the shapes."""
    got, want = tuple(a.shape), tuple(e.shape)
    head = f"shape {got}, expected {want}: "
    inputs = [(m, v) for m, v in variants if m.id == "returned_input"]  # the least telling: tried last
    for mistake, v in variants:
        if mistake.id != "returned_input" and v is not None and tuple(v.shape) == got and \
                relative_error(a, v) <= MATCH:
            return [(mistake.id, head + mistake.message)]
    swapped = swap_last_axes(a)
    if swapped is not None and _close(swapped, e):
        return [("transposed", head + f"your {name} is the transpose of the expected one; look at the order of "
                                      "the product.")]
    try:
        xp = array_namespace(e)
        widened = xp.broadcast_to(xp.asarray(a), want)
    except (ValueError, TypeError, RuntimeError):
        widened = None
    if widened is not None and _close(widened, e):
        return [("not_broadcast", head + f"your {name} has the right numbers but one copy of them where each row "
                                         "needs its own: the result must have the full shape.")]
    for how, axis, r in _reductions(e):
        if _close(a, r):
            where = "every axis" if axis is None else _AXIS_WORDS.get(axis, f"axis {axis}")
            return [("reduced", head + f"your {name} is the expected one with a {how} over {where} too many: look at "
                                       "where you reduce, and what describe() says one value is per.")]
    for how, axis, r in _reductions(a):
        if _close(r, e):
            where = "all entries" if axis is None else _AXIS_WORDS.get(axis, f"axis {axis}")
            return [("not_summed", head + f"the {how} of your {name} over {where} is the expected result: a "
                                          "reduction is missing.")]
    for mistake, v in inputs:
        if v is not None and tuple(v.shape) == got and relative_error(a, v) <= MATCH:
            return [(mistake.id, head + mistake.message)]
    if a.ndim == 1 and e.ndim > 1 and a.shape[0] < e.size:
        xp = array_namespace(e)
        flat = xp.reshape(e, (-1,))
        kept = flat[flat != 0]
        if tuple(kept.shape) == got and relative_error(a, kept) <= MATCH:
            return [("boolean_index", head + f"indexing with a mask keeps only the selected entries, flattened: your "
                                             f"{name} must keep the input's shape.")]
    if got == want[1:]:
        return [("missing_batch_axis", head + f"your {name} has no batch axis: every row n has its own result, "
                                              "stacked along axis 0.")]
    return [("shape", head + shape_hint(name, got, want))]


def named_factors(exercise, inputs) -> dict:
    """Named factors a wrong answer may be off by: 2, N (the batch size) and the exercise's own."""
    if exercise.batch is None:
        first, axis = next(v for v in inputs.values() if B.is_host_array(v) or isinstance(v, list)), 0
    else:
        (argument, axis), first = exercise.batch, inputs[exercise.batch[0]]
    first = first[0] if isinstance(first, list) else first
    n = first.shape[axis]
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
