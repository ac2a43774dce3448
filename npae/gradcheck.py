"""Gradient checking: compare hand-written gradients with central differences.

For a scalar function f of arrays θ, the numerical gradient of each entry is

    n_i = (f(θ + h e_i) − f(θ − h e_i)) / (2h),     h = 1e-6 by default,

and the analytic gradient a passes when the norm-wise relative error of every array,

    relative_error(a, n) = ‖a − n‖ / (‖a‖ + ‖n‖)     (0 when both are zero),

is below ``tol`` (1e-6). The norm-wise form is used because an element-wise maximum fails
correct gradients that happen to have near-zero entries. Checks run in float64: in float32 the
rounding error of f (≈1e-7 relative) divided by 2h swamps the difference.

Layers and losses are checked through the scalar Σ G·output with a random upstream gradient G:
a plain sum would hide transposition and broadcasting slips.

Two more modes:

* ``directional=True`` (large models): along random directions v ~ N(0, I), the directional
  difference n = (f(θ + hv) − f(θ − hv)) / 2h must match ⟨a, v⟩, with the error

      |⟨a, v⟩ − n| / (‖a‖ + |n|)

  ⟨a, v⟩ is N(0, ‖a‖²) over v, so ‖a‖ is its typical size: dividing by it (not by |⟨a, v⟩|,
  which is near 0 for an unlucky v) keeps a correct gradient far below ``tol`` for every draw,
  while a wrong one is off by |⟨a − g, v⟩| ≈ ‖a − g‖, as in the norm-wise error.
* ``per_entry=True`` (tiny entries): the norm-wise error is dominated by the largest entries, so
  a wrong entry a million times smaller than the rest (a sign-flipped row of W for a feature
  scaled by 1e-8) moves it by 1e-8 and passes. This mode scores every entry as well,

      max( ‖a − n‖ / (‖a‖ + ‖n‖),  max_i max(0, |a_i − n_i| − δ) / (|a_i| + |n_i|) ),

  where δ is the rounding noise of the differences, so an entry counts only where a and n
  disagree by more than the arithmetic can explain. δ is 100 times the larger of ε|f(θ)|/h (ε the
  float64 machine epsilon) and the median |a_i − n_i| over every checked entry: f's terms may
  cancel (|f| ≪ the sum of their sizes), and the median of a correct gradient's discrepancies
  measures the noise whatever f is, while a few wrong entries cannot move it (a gradient wrong
  almost everywhere fails the norm-wise term). It uses the fourth-order stencil with h = 1e-4
  unless told otherwise: the truncation error is then negligible and the noise a hundred times
  lower than with h = 1e-6.

Arrays are perturbed in place on their own backend (one element at a time, through the
standard's ``__setitem__``), so the checker works on every backend, GPUs included.

A failed array is also diagnosed (``diagnose``), as ``npae.exercises`` does for its exercises,
but against the central differences, since a learner's own layer has no reference: a wrong sign,
a factor of 2, a missing or extra 1/N (N the batch rows), a transpose, a gradient kept per row
where the parameter's sums over the batch (or the reverse), or zero. ``check_layer`` also calls
backward a second time and checks that the parameter gradients doubled: micrograd's rule that
gradients accumulate (``+=``), which a backward that assigns (``grads[k] = ...``) breaks.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field

from array_api_compat import array_namespace

from npae import backend as B

__all__ = [
    "GradcheckResult",
    "relative_error",
    "numerical_gradient",
    "check_gradients",
    "check_activation",
    "check_layer",
    "check_loss",
    "check_model",
    "entrywise_error",
    "diagnose",
]

DEFAULT_H = 1e-6
DEFAULT_TOL = 1e-6
#: The per-entry mode's stencil: fourth order, so a larger step keeps truncation negligible
#: while dividing the rounding noise of the difference by 100.
PER_ENTRY_H = 1e-4
PER_ENTRY_ORDER = 4
#: δ = NOISE_FACTOR · max(ε·|f|/h, median_i |a_i − n_i|), the disagreement rounding can explain.
NOISE_FACTOR = 100.0
EPS = 2.0**-52  # float64 machine epsilon


def relative_error(a, n) -> float:
    """‖a − n‖ / (‖a‖ + ‖n‖), 0.0 when both are zero; arrays of any backend."""
    a, n = B.to_numpy(a).astype("float64"), B.to_numpy(n).astype("float64")
    if a.shape != n.shape:
        raise ValueError(f"Gradient shapes differ: analytic {a.shape}, numerical {n.shape}.")
    denom = math.sqrt(float((a * a).sum())) + math.sqrt(float((n * n).sum()))
    if denom == 0.0:
        return 0.0
    diff = a - n
    return math.sqrt(float((diff * diff).sum())) / denom


@dataclass
class GradcheckResult:
    """Per-array relative errors of one check.

    Attributes
    ----------
    errors : dict[str, float]
        Relative error per checked array.
    tol : float
    mode : str
        ``"full"`` (every coordinate, norm-wise), ``"directional"`` or ``"entrywise"``.
    worst_entries : dict[str, tuple]
        In the entrywise mode, the index of the worst entry of each array.
    """

    errors: dict = field(default_factory=dict)
    tol: float = DEFAULT_TOL
    mode: str = "full"
    worst_entries: dict = field(default_factory=dict)
    #: array name -> [(id, message)]: what a failed array's numbers point to (``diagnose``), and notes.
    diagnoses: dict = field(default_factory=dict)
    #: parameter name -> relative error of the gradient after two backward calls against twice one
    #: call's (``check_layer``): gradients must accumulate.
    accumulates: dict = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self) -> bool:
        return all(e < self.tol for e in (*self.errors.values(), *self.accumulates.values()))

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        width = max((len(k) for k in self.errors), default=4)
        lines = [f"{'array':<{width}}  relative error  ({self.mode}, tol {self.tol:g})"]
        for name, err in self.errors.items():
            mark = "ok" if err < self.tol else "FAIL"
            where = self.worst_entries.get(name)
            at = f"  (worst entry {where})" if where is not None and err >= self.tol else ""
            lines.append(f"{name:<{width}}  {err:.3e}  {mark}{at}")
        for name, err in self.accumulates.items():
            lines.append(f"{name} ×2 (two backward calls)  {err:.3e}  {'ok' if err < self.tol else 'FAIL'}")
        for name, found in self.diagnoses.items():
            lines += [f"  {name}: {message}" for _, message in found]
        return "\n".join(lines)

    @property
    def mistakes(self) -> list:
        """The ids of every diagnosis, in order (``"sign"``, ``"missing_1/N"``, ``"not_accumulated"``…)."""
        return [i for found in self.diagnoses.values() for i, _ in found]


def _multiple(a, n):
    """r with a = r·n (None when a is not a multiple of n)."""
    nn = float((n * n).sum())
    if nn == 0.0:
        return None
    r = float((a * n).sum()) / nn
    return r if relative_error(a, r * n) <= 1e-6 else None


def diagnose(analytic, numeric, name: str = "the gradient", rows: int | None = None) -> list:
    """[(id, message)]: what a wrong ``analytic`` gradient's numbers say, next to the central differences.

    Names a gradient that is zero, has the wrong sign, is off by 2 or by the batch size N = ``rows``
    (a missing or extra 1/N: a mean where the loss sums, or the reverse), is the transpose, is kept per
    row where the parameter's gradient sums over the rows, or is summed over the rows where each row
    has its own. An empty list when none fits. Host or device arrays of any backend.
    """
    a = B.to_numpy(analytic).astype("float64")
    n = B.to_numpy(numeric).astype("float64")
    if a.shape != n.shape:
        if a.ndim == 2 and a.T.shape == n.shape and relative_error(a.T, n) <= 1e-6:
            return [("transposed", f"{name} has shape {a.shape} where {n.shape} is expected, and it is the transpose "
                                   "of the differences: look at the order of the product.")]
        if a.ndim == n.ndim + 1 and relative_error(a.sum(axis=0), n) <= 1e-6:
            return [("per_row", f"{name} holds one gradient per row, shape {a.shape}: the parameter is shared by "
                                f"every row, so its gradient has shape {n.shape}, the rows' contributions together.")]
        return [("shape", f"{name} has shape {a.shape}, the array it belongs to {n.shape}: a gradient has the shape "
                          "of its array.")]
    if not (abs(a) < float("inf")).all():
        return [("not_finite", f"{name} holds NaN or infinity: look for a division by something that can be 0.")]
    if float(abs(a).max(initial=0.0)) == 0.0 and float(abs(n).max(initial=0.0)) > 0.0:
        return [("zero", f"{name} is zero everywhere: is it ever written (into grads, or returned)?")]
    r = _multiple(a, n)
    if r is not None and abs(r - 1.0) > 1e-6:
        found = [("sign", f"{name} has the wrong sign everywhere.")] if r < 0 else []
        m = abs(r)
        named = [(2.0, "factor_2", "twice the differences: a factor of 2 too many"),
                 (0.5, "factor_2", "half the differences: a factor of 2 missing")]
        if rows and rows > 1:
            named += [(float(rows), "missing_1/N", f"N = {rows} times the differences: a missing 1/N (a sum over the "
                                                   "batch where the loss takes the mean)"),
                      (1.0 / rows, "extra_1/N", f"1/N = 1/{rows} of the differences: an extra 1/N (a mean where "
                                                "the loss sums)")]
        for value, mistake, text in named:
            if abs(m - value) <= 1e-6 * value:
                return found + [(mistake, f"{name} is {text}.")]
        if abs(m - 1.0) > 1e-6:
            found.append(("constant_factor", f"{name} is {m:.3g} times the differences everywhere: a constant "
                                             "factor is wrong."))
        return found
    if a.ndim == 2 and a.shape[0] == a.shape[1] and relative_error(a.T, n) <= 1e-6:
        return [("transposed", f"{name} is the transpose of the differences: look at the order of the product.")]
    if a.ndim >= 2 and rows and a.shape[0] == rows:
        total = n.sum(axis=0, keepdims=True)
        if relative_error(a, 0.0 * n + total) <= 1e-6:
            return [("summed_rows", f"every row of {name} is the same, the sum over the batch: each row has its own "
                                    "gradient here.")]
        per_row = [_multiple(a[i], n[i]) for i in range(rows)]
        if all(r is not None for r in per_row) and max(per_row) - min(per_row) > 1e-6:
            return [("row_scaled", f"each row of {name} is off by its own factor: something per row (a row's "
                                   "loss, a per-row weight) multiplies the gradient, or is missing from it.")]
    return []


def _require_float64(arr, name: str) -> None:
    if B.dtype_name(arr.dtype) != "float64":
        raise TypeError(
            f"Gradient checks need float64 arrays; {name} is {B.dtype_name(arr.dtype)}. "
            "Build the model or layer with dtype='float64' (float32 rounding swamps the difference)."
        )


def numerical_gradient(f, x, h: float = DEFAULT_H, order: int = 2):
    """Central-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    ``order=2``: (f(x + h) − f(x − h)) / 2h, truncation error O(h²), rounding error ≈ ε|f|/h.
    ``order=4``: (−f(x + 2h) + 8 f(x + h) − 8 f(x − h) + f(x − 2h)) / 12h, truncation O(h⁴), so a
    larger h (1e-4) keeps truncation negligible while dividing the rounding error by 100 — useful
    when a gradient is tiny next to the loss (deep saturated stacks). Twice the evaluations.

    ``x`` is perturbed in place, one entry at a time, and restored; ``f`` takes no arguments and
    must read ``x`` (e.g. a closure over the model). Returns a host float64 NumPy array.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4; got {order!r}.")
    stencil = ((1.0, 0.5), (-1.0, -0.5)) if order == 2 else (
        (2.0, -1 / 12), (1.0, 8 / 12), (-1.0, -8 / 12), (-2.0, 1 / 12))
    host = B.to_numpy(x).astype("float64")
    grad = host * 0.0
    for idx in itertools.product(*(range(s) for s in x.shape)):
        original = float(host[idx])
        total = 0.0
        for step, weight in stencil:
            x[idx] = original + step * h
            total += weight * float(f())
        x[idx] = original
        grad[idx] = total / h
    return grad


def _directional(f, arrays: dict, analytic: dict, h: float, n_directions: int, rng) -> dict:
    """Worst |⟨a, v⟩ − n| / (‖a‖ + |n|) over ``n_directions`` draws v ~ N(0, I) per array."""
    errors = {}
    for name, x in arrays.items():
        xp = array_namespace(x)
        a_norm = float(xp.linalg.vector_norm(analytic[name]))
        worst = 0.0
        for _ in range(n_directions):
            v = B.standard_normal(rng, tuple(x.shape), like=x)
            x += h * v
            f_plus = float(f())
            x -= 2.0 * h * v
            f_minus = float(f())
            x += h * v
            numeric = (f_plus - f_minus) / (2.0 * h)
            exact = float(xp.sum(analytic[name] * v))
            denom = a_norm + abs(numeric)
            worst = max(worst, 0.0 if denom == 0.0 else abs(exact - numeric) / denom)
        errors[name] = worst
    return errors


def entrywise_error(a, n, noise: float = 0.0) -> tuple[float, tuple]:
    """max_i max(0, |a_i − n_i| − noise) / (|a_i| + |n_i|) and the index of the worst entry.

    Entries where both are zero, or whose disagreement is within ``noise``, score 0.
    """
    a, n = B.to_numpy(a).astype("float64"), B.to_numpy(n).astype("float64")
    if a.shape != n.shape:
        raise ValueError(f"Gradient shapes differ: analytic {a.shape}, numerical {n.shape}.")
    excess = abs(a - n) - noise
    scale = abs(a) + abs(n)
    score = 0.0 * scale
    resolved = (excess > 0) & (scale > 0)
    score[resolved] = excess[resolved] / scale[resolved]
    if score.size == 0:
        return 0.0, ()
    flat = int(score.argmax())
    index = tuple(int(i) for i in _unravel(flat, a.shape))
    return float(score.max()), index


def _unravel(flat: int, shape: tuple) -> tuple:
    """The multi-index of entry ``flat`` of a C-ordered array of ``shape``."""
    index = []
    for size in reversed(shape):
        flat, i = divmod(flat, size)
        index.append(i)
    return tuple(reversed(index))


def _entrywise(f, arrays: dict, analytic: dict, h: float, order: int) -> tuple[dict, dict]:
    numeric = {name: numerical_gradient(f, x, h, order) for name, x in arrays.items()}
    host = {name: B.to_numpy(analytic[name]).astype("float64") for name in arrays}
    gaps = sorted(float(g) for name in arrays for g in abs(host[name] - numeric[name]).ravel())
    median = gaps[len(gaps) // 2] if gaps else 0.0
    noise = NOISE_FACTOR * max(EPS * abs(float(f())) / h, median)
    errors, where = {}, {}
    for name in arrays:
        entry, where[name] = entrywise_error(host[name], numeric[name], noise)
        errors[name] = max(entry, relative_error(host[name], numeric[name]))
    return errors, where


def check_gradients(f, arrays: dict, analytic: dict, *, h: float | None = None, tol: float = DEFAULT_TOL,
                    directional: bool = False, n_directions: int = 8, random_state=0, order: int | None = None,
                    per_entry: bool = False, rows: int | None = None) -> GradcheckResult:
    """Check ``analytic[name]`` = ∂f/∂``arrays[name]`` for every name.

    Parameters
    ----------
    f : callable () -> float
        The scalar function; it must read the arrays in ``arrays`` (which are perturbed in place).
    arrays, analytic : dict[str, array]
        The inputs and their hand-written gradients (same keys and shapes).
    h : float, optional
        The finite-difference step: 1e-6 (``PER_ENTRY_H`` = 1e-4 with ``per_entry``).
    tol : float, default=DEFAULT_TOL
        The largest relative error that passes (1e-6, the project's float64 standard).
    directional : bool, default=False
        Compare along ``n_directions`` random directions per array instead of every entry, with
        the error |⟨a, v⟩ − n| / (‖a‖ + |n|) (see the module docstring).
    n_directions : int, default=8
        Random directions per array with ``directional``.
    random_state : None, int or numpy.random.Generator, default=0
        Draws those directions.
    order : {2, 4} or None, default=None
        Accuracy order of the central-difference stencil (see ``numerical_gradient``); None means 2,
        or 4 with ``per_entry``.
    per_entry : bool, default=False
        Score every entry on its own, above the rounding noise of the difference, so a wrong
        entry far smaller than the rest still fails (see the module docstring).
    rows : int, optional
        The batch size N, so that a failed array off by N or 1/N is named (``diagnose``).

    Returns
    -------
    GradcheckResult
        The error per array, ``passed``, and the diagnoses of the failed ones.

    Notes
    -----
    An analytic gradient of another shape than its array fails (error ∞) with a diagnosis instead
    of stopping the check; in the full mode every failed array is diagnosed.
    """
    if directional and per_entry:
        raise ValueError("Choose one of directional=True and per_entry=True, not both.")
    for name, x in arrays.items():
        _require_float64(x, name)
    if per_entry:
        h = PER_ENTRY_H if h is None else h
        order = PER_ENTRY_ORDER if order is None else order
        errors, where = _entrywise(f, arrays, analytic, h, order)
        return GradcheckResult(errors, tol, "entrywise", where)
    h = DEFAULT_H if h is None else h
    order = 2 if order is None else order
    if directional:
        rng = B.check_random_state(random_state)
        return GradcheckResult(_directional(f, arrays, analytic, h, n_directions, rng), tol, "directional")
    errors, diagnoses = {}, {}
    for name, x in arrays.items():
        numeric = numerical_gradient(f, x, h, order)
        a = analytic[name]
        if tuple(a.shape) != tuple(numeric.shape):
            errors[name] = float("inf")
        else:
            errors[name] = relative_error(a, numeric)
        if errors[name] >= tol:
            found = diagnose(a, numeric, f"the gradient of {name}", rows)
            if found:
                diagnoses[name] = found
    return GradcheckResult(errors, tol, "full", diagnoses=diagnoses)


#: The step of the fourth-order second difference of f that checks f″ when f′ is wrong.
SECOND_H = 1e-3


def check_activation(activation, z, *, h: float = DEFAULT_H, tol: float = DEFAULT_TOL) -> GradcheckResult:
    """Check f′ against differences of f, and f″ against differences of f′, element-wise.

    Element-wise functions need only two evaluations: (f(z + h) − f(z − h)) / 2h for all entries
    at once. Keep z away from kinks (ReLU at 0).

    When f′ is wrong, differences of f′ say nothing about f″, so f″ is then checked against the
    fourth-order second difference of f itself,

        (−f(z + 2h) + 16 f(z + h) − 30 f(z) + 16 f(z − h) − f(z − 2h)) / 12h²,   h = 1e-3,

    and the result notes that f′ is the one to fix first.
    """
    _require_float64(z, "z")
    errors, diagnoses = {}, {}
    numeric = (activation.f(z + h) - activation.f(z - h)) / (2.0 * h)
    errors["df"] = relative_error(activation.df(z), numeric)
    if errors["df"] < tol:
        numeric = (activation.df(z + h) - activation.df(z - h)) / (2.0 * h)
        errors["d2f"] = relative_error(activation.d2f(z), numeric)
    else:
        found = diagnose(activation.df(z), numeric, "df")
        diagnoses["df"] = found or [("wrong_values", "df disagrees with the differences of f.")]
        s, f = SECOND_H, activation.f
        numeric = (-f(z + 2 * s) + 16.0 * f(z + s) - 30.0 * f(z) + 16.0 * f(z - s) - f(z - 2 * s)) / (12.0 * s * s)
        errors["d2f"] = relative_error(activation.d2f(z), numeric)
        said = ("agrees with" if errors["d2f"] < tol else "disagrees with")
        diagnoses["d2f"] = [("fix_df_first", f"d2f was checked against second differences of f, as df is wrong; it "
                                             f"{said} them. Fix df first.")]
    if errors["d2f"] >= tol and "d2f" not in diagnoses:
        found = diagnose(activation.d2f(z), numeric, "d2f")
        if found:
            diagnoses["d2f"] = found
    return GradcheckResult(errors, tol, "full", diagnoses=diagnoses)


def _upstream(rng, out):
    return B.standard_normal(rng, tuple(out.shape), like=out)


def check_layer(layer, x, *, h: float | None = None, tol: float = DEFAULT_TOL, random_state=0,
                directional: bool = False, per_entry: bool = False) -> GradcheckResult:
    """Check a layer's backward: parameter gradients and the input gradient.

    The scalar is L = Σ G·layer.forward(x) with a random upstream gradient G, so backward(G)
    must return dL/dx and accumulate dL/dθ into ``layer.grads``.
    """
    rng = B.check_random_state(random_state)
    x = B.asarray(B.to_numpy(x), backend=B.backend_of(x))  # a private copy to perturb
    G = _upstream(rng, layer.forward(x))
    xp = array_namespace(G)

    def f():
        return xp.sum(G * layer.forward(x))

    layer.zero_grad()
    layer.forward(x)
    grad_in = layer.backward(G)
    arrays = {"input": x, **layer.params}
    analytic = {"input": grad_in, **layer.grads}
    once = {k: B.to_numpy(v).astype("float64") for k, v in layer.grads.items()}
    result = check_gradients(f, arrays, analytic, h=h, tol=tol, directional=directional, random_state=rng,
                             per_entry=per_entry, rows=int(x.shape[0]))
    _check_accumulates(layer, x, G, once, result)
    return result


def _check_accumulates(layer, x, G, once: dict, result: GradcheckResult) -> None:
    """Call backward a second time: every parameter gradient must double (``+=``, micrograd's rule)."""
    layer.zero_grad()
    layer.forward(x)
    layer.backward(G)
    layer.forward(x)
    layer.backward(G)
    for name, first in once.items():
        twice = B.to_numpy(layer.grads[name]).astype("float64")
        if first.shape != twice.shape or not float(abs(first).max(initial=0.0)) > 0.0:
            continue
        key = f"{name} ×2"
        result.accumulates[name] = relative_error(twice, 2.0 * first)
        if result.accumulates[name] >= result.tol:
            kept = relative_error(twice, first) <= 1e-9
            result.diagnoses[key] = [(
                "not_accumulated",
                f"two backward calls without zero_grad should add up to twice the gradient of {name}, but "
                + ("the second replaced the first: backward assigns the gradient instead of adding to it."
                   if kept else "they did not: look at how backward stores the gradient."))]
    layer.zero_grad()


def check_loss(loss, x, out, *, h: float = DEFAULT_H, tol: float = DEFAULT_TOL, random_state=0) -> GradcheckResult:
    """Check ``loss.grad(x, out)`` against differences of Σ_n w_n · loss.value(x, out)_n.

    A random per-row weight w (the upstream gradient of the (N,) loss vector) catches row mix-ups.
    """
    rng = B.check_random_state(random_state)
    out = B.asarray(B.to_numpy(out), backend=B.backend_of(out))
    w = _upstream(rng, loss.value(x, out))
    xp = array_namespace(w)

    def f():
        return xp.sum(w * loss.value(x, out))

    analytic = loss.grad(x, out) * w[:, None]
    return check_gradients(f, {"output": out}, {"output": analytic}, h=h, tol=tol, rows=int(out.shape[0]))


def check_model(model, X, *, h: float | None = None, tol: float = DEFAULT_TOL, directional: bool = False,
                n_directions: int = 8, random_state=0, order: int | None = None, per_entry: bool = False,
                **loss_kwargs) -> GradcheckResult:
    """Check ``model.loss_and_grad(X, **loss_kwargs)`` for every parameter, in float64.

    The model is deep-copied and its parameters cast to float64 first (the original is left as it
    was); an unbuilt model is built on X. The objective must be a deterministic function of the
    parameters: a model whose objective samples (the VAE's eps) gets its noise drawn once from
    ``random_state`` unless ``loss_kwargs`` gives it (``eps=``; ``eps=None`` draws afresh at every
    evaluation, which no check passes: a demonstration of why); a denoiser is checked on X as
    given (pass a fixed corruption as X and the clean rows as ``target=``). Use smooth
    activations (tanh) for a tight check: a ReLU pre-activation within h of its kink fails any
    central difference.
    """
    model = copy.deepcopy(model)
    model._ensure_float64(X)
    loss_kwargs = {**model._fixed_randomness(X, B.check_random_state(random_state)), **loss_kwargs}
    params = model.parameters()
    _, grads = model.loss_and_grad(X, **loss_kwargs)
    grads = {k: B.asarray(B.to_numpy(v), backend=B.backend_of(params[k])) for k, v in grads.items()}

    def f():
        return model.loss_and_grad(X, **loss_kwargs)[0]

    return check_gradients(f, params, grads, h=h, tol=tol, directional=directional,
                           n_directions=n_directions, random_state=random_state, order=order,
                           per_entry=per_entry, rows=int(X.shape[0]))
