"""The checker: run a learner's function on fresh inputs, compare with npae's reference, name the mistake.

For each random case (two sets of shapes, float64, on the backend under test) the checker calls the
function, then for every returned array checks in turn: that it is an array of the inputs' backend
and device, its dtype, its shape, that it is finite, and its values, by the relative error
‖a − e‖ / (‖a‖ + ‖e‖) against npae's reference. A gradient is also compared with central
differences of the scalar it belongs to. Once the values are right, float32 inputs must give
float32 results, and edge inputs (huge logits, saturated units) must still give the right numbers.

A wrong array is diagnosed, never shown (``npae.exercises.diagnosis``): the checker tries the
exercise's catalogued mistakes (each a wrong variant computed on the same inputs), a transpose,
and a constant factor (the sign, 2, N, the penalty weight, …), and reports the one that matches
by name. No expected value, array or formula appears in the report.
"""

from __future__ import annotations

import warnings

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from npae import backend as B
from npae.exercises.diagnosis import diagnose, diagnose_shape, named_factors
from npae.exercises.errors import explain_error
from npae.exercises.progress import record, status_of
from npae.exercises.registry import Mistake, get
from npae.gradcheck import DEFAULT_TOL, numerical_gradient, relative_error

__all__ = ["CheckResult", "check"]

#: float32 results are compared with the float64 reference to this relative error.
FLOAT32_TOL = 1e-4
#: Edge inputs may lose a few more digits than ordinary ones.
EDGE_TOL = 1e-6
#: An exact formula is right to ~1e-15 in float64; a worst case-1/2 error above this that still
#: passes, followed by a float32 failure, is the mark of a finite difference.
FINITE_DIFFERENCE_FLOAT64 = 1e-12
#: Mistakes that explain by themselves why case 2 fails when case 1 passed (not a fixed size).
_EXPLAINS_A_CASE = {"hard_coded_activation"}

class CheckResult:
    """The outcome of ``check(name, fn)``: ``passed``, the named ``mistakes`` and a readable report.

    ``print(result)`` or ``str(result)`` gives the report; ``bool(result)`` is ``passed``.

    Attributes
    ----------
    name : str
        The exercise.
    passed : bool
    mistakes : list of str
        The ids of the mistakes found (``"transposed"``, ``"missing_1/N"``, …), each once, in the
        order found.
    lines : list of str
        The report, line by line.
    """

    def __init__(self, name: str, passed: bool, mistakes: list, lines: list):
        self.name, self.passed, self.mistakes, self.lines = name, passed, mistakes, lines

    def __bool__(self) -> bool:
        return self.passed

    @property
    def status(self) -> str:
        """"passed", "failing" or "not implemented" (a stub: ``raise NotImplementedError``, ``None``, ``...``)."""
        return status_of(self)

    def __str__(self) -> str:
        return "\n".join(self.lines)

    __repr__ = __str__


class _Report:
    def __init__(self, name: str, backend):
        self.name, self.backend = name, backend
        self.lines, self.mistakes, self.failed = [], [], False

    def fail(self, mistake_id: str, text: str, indent: str = "  ") -> None:
        self.failed = True
        if mistake_id not in self.mistakes:
            self.mistakes.append(mistake_id)
        self.lines.append(f"{indent}{text}")

    def note(self, text: str, indent: str = "  ") -> None:
        self.lines.append(f"{indent}{text}")

    def result(self) -> CheckResult:
        if self.mistakes == ["not_implemented"]:  # a stub nobody has written yet: not a failure to fix
            head = f"{self.name}: not implemented yet"
        elif self.failed:
            named = [m for m in self.mistakes if m not in ("wrong_values", "error")]
            head = f"{self.name}: FAILED" + (f" — mistakes named: {', '.join(named)}" if named else "")
        else:
            head = f"{self.name}: passed — every check"
        return CheckResult(self.name, not self.failed, list(self.mistakes), [head, *self.lines])


def check(name, fn, *, backend=None, random_state=None) -> CheckResult:
    """Check the learner's ``fn`` for exercise ``name`` and name the mistake if it is wrong.

    Parameters
    ----------
    name : str
        An exercise from ``npae.exercises.names()``; ``npae.exercises.describe(name)`` says what
        ``fn`` must compute.
    fn : callable
        The learner's function, called positionally with the arguments of the exercise's signature.
    backend : str or npae.backend.Backend, optional
        Where the inputs live (default: the active backend): ``"numpy"``, ``"array_api_strict"``
        (a strict device that refuses NumPy calls), ``"cupy"``, ``"torch"``.
    random_state : None, int or numpy.random.Generator
        Source of the random inputs; None draws fresh ones on every call.

    Returns
    -------
    CheckResult
        ``passed``, ``mistakes`` (ids) and the report (``print(result)``). A function that raises
        (``NotImplementedError`` included) fails; ``check`` itself does not raise. The result is
        also recorded for ``npae.exercises.progress()`` (the latest check of each exercise counts).
    """
    result = _check(name, fn, backend=backend, random_state=random_state)
    record(result)
    return result


def _check(name, fn, *, backend=None, random_state=None) -> CheckResult:
    exercise = get(name)
    if not callable(fn):
        raise TypeError(f"check({exercise.name!r}, fn) needs a function; got {type(fn).__name__}.")
    if getattr(fn, "npae_reference_of", None) is not None:
        raise TypeError(f"check({exercise.name!r}, fn) got npae's own function (what yours_or_npae hands out until "
                        "yours passes); pass the function you wrote.")
    backend = backend if isinstance(backend, B.Backend) else B.get_backend(backend)
    rng = B.check_random_state(random_state)
    report = _Report(exercise.name, backend)
    values_ok, worst = True, 0.0
    for i, sizes in enumerate(exercise.cases):
        shapes = ", ".join(f"{k}={v}" for k, v in sizes.items())
        report.note(f"case {i + 1}: random inputs {shapes} (float64, {backend.name})", indent="")
        inputs = exercise.make_inputs(rng, **sizes)
        before = len(report.mistakes)
        outcome = _run(report, exercise, fn, inputs, backend, "float64")
        if outcome == "stop":
            return report.result()
        if outcome is not None:
            ok, err = _compare_all(report, exercise, outcome, inputs, exercise.tol)
            values_ok &= ok
            worst = max(worst, err)
            if i == 0 and exercise.objective is not None and not report.failed:
                _central_differences(report, exercise, outcome, inputs)
        else:
            values_ok = False
        if i > 0 and before == 0 and report.failed and not set(report.mistakes) & _EXPLAINS_A_CASE:
            report.fail("fixed_size", "case 1 passed but this case, with other sizes or argument values, did not: "
                                      "something in your code depends on a fixed size or value (a number, or a "
                                      "variable from outside the function, standing for N, D, H, K, the number of "
                                      "layers or one of the arguments).")
    if not values_ok or report.failed:
        report.note("float32 and edge inputs: checked once the float64 cases pass", indent="")
        return report.result()
    report.note(f"float32 inputs ({backend.name})", indent="")
    inputs = exercise.make_inputs(rng, **exercise.cases[0])
    outcome = _run(report, exercise, fn, inputs, backend, "float32")
    if outcome is not None and outcome != "stop":
        if worst > FINITE_DIFFERENCE_FLOAT64:
            near = ("finite_difference", "right to a few digits in float64 but not in float32: your answer "
                                         "behaves like a finite difference, whose error grows as the precision "
                                         "falls; an exact formula is expected.")
        else:
            near = ("float32_precision", "right in float64 but it loses its digits in float32: look for a "
                                         "difference of nearly equal numbers, or an intermediate that "
                                         "overflows or underflows in float32.")
        if _compare_all(report, exercise, outcome, inputs, FLOAT32_TOL, dtype="float32", near_miss=near)[0]:
            report.note(f"{', '.join(exercise.outputs)}  ok (float32 kept)")
    for edge in exercise.edges:
        report.note(f"edge: {edge.what}", indent="")
        inputs = edge.inputs(rng)
        outcome = _run(report, exercise, fn, inputs, backend, "float64")
        if outcome is None or outcome == "stop":
            continue
        for out_name, a, e in zip(exercise.outputs, outcome, exercise.reference(**inputs)):
            _check_edge(report, edge, out_name, a, e)
    return report.result()


def _check_edge(report, edge, name, a, e) -> None:
    """An output on edge inputs: an array of the expected shape, finite where expected, and right."""
    try:
        host = B.to_numpy(a) if B.backend_of(a) else None
    except TypeError:
        report.fail("not_an_array", f"{name}  FAIL a {type(a).__name__}, not an array.")
        return
    xp = array_namespace(host)
    if tuple(host.shape) != tuple(e.shape):
        report.fail(edge.id, f"{name}  FAIL shape {tuple(host.shape)}, expected {tuple(e.shape)}: {edge.message}")
    elif not bool(xp.all(xp.isfinite(host))):
        report.fail(edge.id, f"{name}  FAIL not finite: {edge.message}")
    elif relative_error(host, e) > EDGE_TOL:
        report.fail(edge.id, f"{name}  FAIL relative error {relative_error(host, e):.1e}: {edge.message}")
    else:
        report.note(f"{name}  ok")


# ---------------------------------------------------------------------- calling the learner
def _place(value, backend, dtype):
    """A host input moved to the backend: float arrays in ``dtype``, bool masks as they are."""
    if isinstance(value, list):
        return [_place(v, backend, dtype) for v in value]
    if not B.is_host_array(value):
        return value
    value = array_namespace(value).asarray(value, copy=True)  # the learner may write into it
    if str(value.dtype) == "bool":
        return B.asarray(value, backend=backend)
    return B.asarray(value, dtype=dtype, backend=backend)


def _same(host, placed) -> bool:
    if isinstance(host, list):
        return all(_same(h, p) for h, p in zip(host, placed))
    if not B.is_host_array(host):
        return True
    after = B.to_numpy(placed)
    xp = array_namespace(after)
    before = xp.astype(host, after.dtype)
    return tuple(after.shape) == tuple(host.shape) and bool(xp.all(after == before))


def _is_stub(out) -> bool:
    """A stub's result: None or ``...`` (also inside a tuple of them)."""
    if isinstance(out, (tuple, list)) and out:
        return all(o is None or o is Ellipsis for o in out)
    return out is None or out is Ellipsis


def _run(report, exercise, fn, inputs, backend, dtype):
    """Call ``fn``; return its outputs as a tuple, None after a reported failure, "stop" if unwritten."""
    args = [_place(v, backend, dtype) for v in inputs.values()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args)
        except NotImplementedError:
            report.fail("not_implemented", "to write it, replace `raise NotImplementedError` with your code.")
            return "stop"
        except Exception as err:  # the learner's code may raise anything; report it, do not crash
            text = str(err).splitlines()[0][:200] if str(err) else ""
            mistake_id, hint = explain_error(err, inputs, exercise.signature, getattr(fn, "__name__", ""))
            report.fail("error", f"your function raised {type(err).__name__}: {text}")
            if hint:
                report.fail(mistake_id, f"→ {hint}", indent="    ")
            return None
    if _is_stub(out):
        report.fail("not_implemented", "not implemented yet: your function returned "
                    f"{'...' if out is Ellipsis else 'None'} (a stub, or a missing `return`).")
        return "stop"
    said = sorted({str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)})
    if said:
        report.note(f"note: your function warned: {'; '.join(said)}")
    changed = [k for (k, v), a in zip(inputs.items(), args) if not _same(v, a)]
    if changed:
        report.fail("mutated_input", f"your function changed its input {', '.join(changed)} in place; "
                                     "leave the inputs as they are and return new arrays.")
    n = len(exercise.outputs)
    if n == 1:
        out = out[0] if isinstance(out, (tuple, list)) and len(out) == 1 else out
        return (out,)
    if not isinstance(out, (tuple, list)) or len(out) != n:
        got = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
        report.fail("wrong_outputs", f"return {n} arrays, ({', '.join(exercise.outputs)}); got {got}.")
        return None
    return tuple(out)


# ---------------------------------------------------------------------- comparing
def _compare_all(report, exercise, outputs, inputs, tol, dtype="float64", near_miss=None) -> tuple:
    """(all right, worst relative error) of the outputs against the reference; failures reported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a wrong variant may take the root of a negative number
        expected = exercise.reference(**inputs)
        variants = [(m, _variant(m, inputs, len(exercise.outputs))) for m in _mistakes(exercise, inputs)]
    factors = named_factors(exercise, inputs)
    ok, worst = True, 0.0
    for i, (out_name, a, e) in enumerate(zip(exercise.outputs, outputs, expected)):
        wrong = [(m, v[i]) for m, v in variants]
        others = [(n, x) for j, (n, x) in enumerate(zip(exercise.outputs, expected)) if j != i]
        right, err = _compare(report, out_name, a, e, wrong, factors, tol, dtype, report_ok=dtype == "float64",
                              others=others, near_miss=near_miss, derivative=exercise.objective is not None)
        ok &= right
        worst = max(worst, err)
    return ok, worst


def _variant(mistake, inputs, n) -> tuple:
    """A catalogued wrong answer on these inputs; all None where it cannot be computed (shapes)."""
    try:
        return tuple(mistake.variant(**inputs))
    except (ValueError, TypeError, IndexError, ArithmeticError, RuntimeError):
        return (None,) * n


def _mistakes(exercise, inputs) -> list:
    """The exercise's catalogued mistakes, and the forgotten upstream gradient where there is one."""
    mistakes = list(exercise.mistakes)
    if exercise.upstream is not None:
        arg = exercise.upstream
        xp = array_namespace(inputs[arg])

        def forgot_upstream(**given):
            return exercise.reference(**{**given, arg: xp.ones_like(given[arg])})

        mistakes.append(Mistake("forgot_upstream", f"your result does not depend on {arg}: the upstream gradient "
                                                   "was dropped (or replaced by ones) somewhere in the chain.",
                                forgot_upstream))
    n = len(exercise.outputs)
    for key, value in inputs.items():
        if B.is_host_array(value) and str(value.dtype) != "bool":
            mistakes.append(Mistake("returned_input", f"your result is the input {key}, unchanged.",
                                    lambda _v=value, **given: (_v,) * n))
    return mistakes


def _compare(report, name, a, e, variants, factors, tol, dtype, report_ok=True, others=(), near_miss=None,
             derivative=False) -> tuple:
    """(right, relative error) of one returned array against the expected one; report and name what is wrong."""
    try:
        kind = B.backend_of(a).name
    except TypeError:
        scalar = isinstance(a, (int, float)) and e.ndim == 0
        report.fail("not_an_array", f"{name}  FAIL a {type(a).__name__}, not an array" +
                    (": return a 0-d array (xp.sum(...)), not a Python number." if scalar else "."))
        return False, float("inf")
    placed = report.backend
    if kind != placed.name:
        report.fail("wrong_namespace", f"{name}  FAIL a {kind} array, but the inputs were {placed.name} arrays: "
                                       "compute with the inputs' namespace (xp = array_namespace(x)).")
        return False, float("inf")
    if str(device_of(a)) != str(placed.device):
        report.fail("wrong_device", f"{name}  FAIL on device {device_of(a)}, the inputs on {placed.device}: "
                                    "create arrays with device=device(x) or *_like.")
        return False, float("inf")
    host = B.to_numpy(a)
    xp = array_namespace(host)
    ok = True
    if str(host.dtype) != dtype:
        report.fail("dtype", f"{name}  FAIL dtype {host.dtype}, but the inputs were {dtype}: keep the inputs' "
                             "dtype (Python floats, not NumPy scalars or float64 constants; no bool results).")
        ok = False
        host = xp.astype(host, e.dtype)
    if tuple(host.shape) != tuple(e.shape) or relative_error(host, e) > tol:
        swapped_with = _other_output(host, others)
        if swapped_with is not None:
            report.fail("output_order", f"{name}  FAIL holds what {swapped_with} should: the outputs are returned "
                                        "in the wrong order (see describe()).")
            return False, float("inf")
    if tuple(host.shape) != tuple(e.shape):
        for mistake_id, message in diagnose_shape(name, host, e, variants):
            report.fail(mistake_id, f"{name}  FAIL {message}")
        return False, float("inf")
    if not bool(xp.all(xp.isfinite(host))) and bool(xp.all(xp.isfinite(e))):
        report.fail("not_finite", f"{name}  FAIL holds NaN or infinity on ordinary inputs: look for a log or "
                                  "division of something that can be 0 or negative, or an exp that overflows.")
        return False, float("inf")
    err = relative_error(host, e)
    if err <= tol:
        if report_ok and ok:
            report.note(f"{name}  ok (relative error {err:.1e})")
        return ok, err
    found = diagnose(name, host, e, variants, factors)
    if near_miss is not None and (not found or found[0][0] == "approximate"):
        found = [(near_miss[0], f"your {name} is " + near_miss[1])]
    elif derivative and found and found[0][0] == "approximate":  # a near miss of a derivative: differences
        found = [("finite_difference", f"your {name} is close to the expected values (relative error {err:.0e}) but "
                                       "not exact: it behaves like a finite difference (or another approximation); "
                                       "an exact formula is expected.")]
    if not found:
        found = [("wrong_values", f"your {name} differs from the expected values in no way the checker "
                                  "recognises; re-derive it and compare with central differences.")]
    first = True
    for mistake_id, message in found:
        prefix = f"{name}  FAIL relative error {err:.1e}: " if first else "    and: "
        report.fail(mistake_id, prefix + message)
        first = False
    return False, err


def _other_output(host, others):
    """The name of another expected output that ``host`` equals (outputs returned out of order), or None."""
    for other_name, x in others:
        if x is not None and tuple(x.shape) == tuple(host.shape) and relative_error(host, x) <= 1e-9 and \
                float(array_namespace(x).max(array_namespace(x).abs(x))) > 0:
            return other_name
    return None


def _central_differences(report, exercise, outputs, inputs) -> None:
    """Compare each gradient with central differences of the exercise's scalar, on host copies."""
    host = {k: (array_namespace(v).asarray(v, copy=True) if B.is_host_array(v) else v) for k, v in inputs.items()}
    parts = []
    for out_name, a in zip(exercise.outputs, outputs):
        wrt = exercise.grad_of.get(out_name)
        if wrt is None:
            continue
        numeric = numerical_gradient(lambda: float(exercise.objective(**host)), host[wrt])
        err = relative_error(B.to_numpy(a), numeric)
        ok = err < DEFAULT_TOL
        parts.append(f"{out_name} {err:.1e} {'ok' if ok else 'FAIL'}")
        if not ok:
            report.fail("gradient_check", f"central differences disagree with your {out_name} ({err:.1e}).")
    report.note("central differences: " + ", ".join(parts))
