"""Exercises: the learner writes each forward and backward pass, and npae checks it.

The loop is derive → implement → check → fix, as in CS231n's assignments and UFLDL's sparse
autoencoder exercise:

    import npae.exercises as ex

    ex.names()                       # the exercises, in course order
    print(ex.describe("dense_backward"))   # the signature, the shapes, what is given

    def dense_backward(x, W, b, grad_out):
        ...

    result = ex.check("dense_backward", dense_backward)
    print(result)                    # per-array verdicts; a wrong answer gets its mistake named
    assert result.passed

    print(ex.progress(chapter=1))    # "chapter 1: 3 of 9 exercises done; not implemented yet: …; failing: …"

``check`` runs the function on fresh random float64 inputs (two sets of shapes), compares every
returned array with npae's own reference code and, for gradients, with central differences; then
float32 inputs and edge inputs (huge logits, saturated units). A wrong array is never shown: the
report names the mistake instead ("your dW is the transpose of the expected one", "is N = 5 times
the expected one: a missing 1/N", "you forgot the factor f′(z)"). ``backend="array_api_strict"``
runs the check on a strict device that refuses NumPy calls, as a GPU would.

One module per chapter registers its exercises: ``from_scratch`` (1), ``gradient_checking`` (2),
``sparse_denoising`` (3), ``contractive`` (4), ``variational`` (5). ``registry`` says what an
exercise is, ``checker`` runs one, ``diagnosis`` names a wrong answer, ``inputs`` draws inputs,
``progress`` keeps the session's record of checks (``progress(chapter=1)``).
"""

from __future__ import annotations

from npae.exercises import contractive, from_scratch, gradient_checking, sparse_denoising, variational  # noqa: F401
from npae.exercises.assemble import assemble
from npae.exercises.checker import CheckResult, check
from npae.exercises.progress import Progress, progress, reset_progress, reveal, yours_or_npae
from npae.exercises.registry import REGISTRY, get

__all__ = ["CheckResult", "Progress", "assemble", "check", "describe", "names", "progress", "reset_progress", "reveal",
           "yours_or_npae"]


def names(chapter: int | None = None) -> list:
    """The exercise names in course order (chapter by chapter), or those of one ``chapter``."""
    ordered = sorted(REGISTRY.values(), key=lambda e: e.chapter)  # stable: registration order within
    return [e.name for e in ordered if chapter is None or e.chapter == chapter]


def describe(name: str) -> str:
    """What to implement for exercise ``name``: its signature, the shapes given and returned."""
    return get(name).describe()
