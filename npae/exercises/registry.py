"""What an exercise is: its task, the inputs it is checked on, npae's reference, the mistakes it names.

An ``Exercise`` is data: a chapter module builds one per task with ``register`` and the checker
(``npae.exercises.checker``) runs it. Inputs are made on the host as float64 NumPy arrays (drawn
from a ``numpy.random.Generator``) and moved to the backend under test; the reference and the
mistakes run on the host copies, so the expected numbers never depend on the backend.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Edge", "Exercise", "Mistake", "REGISTRY", "get", "register"]


@dataclass(frozen=True)
class Mistake:
    """A wrong answer the checker recognises and names.

    Attributes
    ----------
    id : str
        Short name (``"transposed"``, ``"forgot_fprime"``), listed in ``CheckResult.mistakes``.
    message : str
        What the learner is told: the mistake, never the solution.
    variant : callable
        ``variant(**inputs)`` -> the wrong outputs (a tuple like the reference's), on host arrays.
    """

    id: str
    message: str
    variant: Callable


@dataclass(frozen=True)
class Edge:
    """Inputs where a formula that is right on ordinary numbers can still fail (overflow, log 0).

    Checked only once the ordinary cases pass. ``inputs(rng)`` -> host inputs; a failure is
    reported as the mistake ``id`` with ``message``.
    """

    what: str
    inputs: Callable
    id: str
    message: str


@dataclass(frozen=True)
class Exercise:
    """One task: implement ``name`` with the given signature and return ``outputs``.

    Attributes
    ----------
    name, title : str
    chapter : int
        The notebook chapter it belongs to (course order is chapter, then registration order).
    signature : str
        ``"dense_backward(x, W, b, grad_out)"``; the learner's function is called positionally.
    task : str
        What to compute, in the chapter's notation.
    given, returns : tuple of (name, description) pairs
        Every argument and every returned array, with its shape.
    make_inputs : callable (rng, **sizes) -> dict
        Host inputs, in signature order: float64 arrays, bool masks, floats, ints, activation objects.
    cases : tuple of dict
        The sizes of each random case (``{"N": 5, "D": 7, "H": 3}``), and any scalar argument that
        takes another value there (``"target": 0.3``, so an answer with the value typed in fails);
        passed to ``make_inputs`` as keywords. The first is the main one.
    reference : callable (**inputs) -> tuple
        npae's own answer, one array per output.
    mistakes : tuple of Mistake
    edges : tuple of Edge
    objective : callable (**inputs) -> float, optional
        For gradient exercises, the scalar whose gradient the outputs are; ``grad_of`` maps each
        output to the input it differentiates. The learner's answer is then also compared with
        central differences of this scalar.
    upstream : str, optional
        The argument holding the upstream gradient (``"grad_out"``, ``"dz"``) of a backward pass: an
        answer that ignores it is named ``forgot_upstream``.
    factors : callable (**inputs) -> dict
        Named constant factors ``{id: (value, message)}`` a wrong answer may be off by, besides the
        sign, 2 and N (the batch size, see ``batch``): λ, D, K.
    batch : (str, int), optional
        The argument (the first of a list) and the axis whose length is the batch size N, for the
        named factors "missing 1/N" and "extra 1/N"; default the first array argument's axis 0.
    tol : float
        Largest relative error ‖a − e‖ / (‖a‖ + ‖e‖) that passes.
    """

    name: str
    chapter: int
    title: str
    signature: str
    task: str
    given: tuple
    returns: tuple
    make_inputs: Callable
    cases: tuple
    reference: Callable
    mistakes: tuple = ()
    edges: tuple = ()
    objective: Callable | None = None
    grad_of: dict = field(default_factory=dict)
    factors: Callable | None = None
    tol: float = 1e-8
    upstream: str | None = None
    batch: tuple | None = None

    @property
    def arguments(self) -> tuple:
        """The argument names of the signature, in order."""
        inside = self.signature[self.signature.index("(") + 1:self.signature.rindex(")")]
        return tuple(a.strip() for a in inside.split(",") if a.strip())

    @property
    def outputs(self) -> tuple:
        return tuple(name for name, _ in self.returns)

    def describe(self) -> str:
        """The task as the learner reads it: signature, what is given, what to return."""
        width = max(len(n) for n, _ in self.given + self.returns)
        lines = [f"{self.name} — chapter {self.chapter}: {self.title}", "",
                 f"    def {self.signature}:", "        ...", f"        return {', '.join(self.outputs)}",
                 "", textwrap.fill(self.task, 100), "", "Given:"]
        lines += [f"  {n:<{width}} : {d}" for n, d in self.given]
        lines += ["Returns:"] + [f"  {n:<{width}} : {d}" for n, d in self.returns]
        checked = ["values on fresh random float64 inputs, in two sets of shapes"]
        if self.objective is not None:
            checked.append("central differences of the scalar the gradient belongs to")
        checked.append("float32 inputs give float32 results; the inputs are left unchanged")
        checked += [edge.what for edge in self.edges]
        lines += ["", textwrap.fill("Checked: " + "; ".join(checked) + ".", 100),
                  "Write it on the Array API (xp = array_namespace(x); xp.sum, xp.exp, xp.where, @) "
                  "so it runs on every backend.",
                  f"Run npae.exercises.check({self.name!r}, {self.name})."]
        return "\n".join(lines)


#: name -> Exercise, in registration order (the chapter modules register in course order).
REGISTRY: dict = {}


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to the registry (a name may be registered once)."""
    if exercise.name in REGISTRY:
        raise ValueError(f"Exercise {exercise.name!r} is registered twice.")
    REGISTRY[exercise.name] = exercise
    return exercise


def get(name) -> Exercise:
    """The exercise called ``name``; a clear error, with the close names, otherwise."""
    if isinstance(name, Exercise):
        return name
    if name in REGISTRY:
        return REGISTRY[name]
    import difflib

    close = difflib.get_close_matches(str(name), list(REGISTRY), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"Unknown exercise {name!r}.{hint} npae.exercises.names() lists all of them.")
