"""Naming the likely cause when a learner's function raises, from the exception and the inputs.

A shape error is read for the shapes or sizes it quotes, and each size is matched with the input
axes of that length ("7 = x axis 1, W axis 0"), so the learner is told which operands met and how
(an element-wise ``*`` where a matrix product sums over a shared axis, a transposed operand, an
axis lost by a reduction). A ``NameError``, ``TypeError``, ``AttributeError``, ``IndexError`` or
an Array API refusal gets its own id. As everywhere in the checker, the message names the kind of
mistake and where to look, never the fix.
"""

from __future__ import annotations

import re

from npae import backend as B

__all__ = ["explain_error"]

_SHAPES = re.compile(r"shapes? \(([\d, ]*)\)\s*\(([\d, ]*)\)")
_MATMUL_NP = re.compile(r"size (\d+) is different from (\d+)")
_MATMUL_TORCH = re.compile(r"\((\d+)x(\d+) and (\d+)x(\d+)\)")
_TORCH_BROADCAST = re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)")
_NAME = re.compile(r"name '([^']+)' is not defined")

#: Exception text -> (id, advice) for what the Array API standard refuses (a strict device, a GPU).
_STANDARD = (
    ("Can't convert array", "numpy_on_device",
     "NumPy was handed a device array (an np.* call or np.asarray): the array module must come from the "
     "inputs, xp = array_namespace(x), with xp.* calls."),
    ("Only numeric dtypes are allowed", "bool_arithmetic",
     "arithmetic on a bool array (mask × x), which the standard refuses: look at where a comparison or the "
     "mask meets a float (xp.where, or xp.astype to the inputs' dtype)."),
    ("can not be combined", "wrong_device",
     "an array made inside your function sits on another device than the inputs: look at each creation call "
     "(xp.zeros, xp.ones, xp.asarray, xp.arange) — it needs device=device(x), or a *_like function."),
    ("Expected Array or Python scalar", "numpy_scalar",
     "a NumPy scalar met a device array: constants must be Python floats (2.0, not np.float64(2))."),
)


def _parse(text) -> tuple:
    return tuple(int(t) for t in text.replace(" ", "").split(",") if t)


def _axes(inputs) -> dict:
    """size -> ["x axis 1", "W axis 0", …] over the host array inputs (lists: their first entry)."""
    where: dict = {}
    for name, value in inputs.items():
        if isinstance(value, list) and value:
            name, value = f"{name}[0]", value[0]
        if not B.is_host_array(value) and not hasattr(value, "shape"):
            continue
        for axis, size in enumerate(tuple(getattr(value, "shape", ()))):
            where.setdefault(int(size), []).append(f"{name} axis {axis}")
    return where


def _size(n, where) -> str:
    names = where.get(n)
    return f"{n} ({', '.join(names[:3])})" if names else str(n)


def _shape_error(text, inputs):
    """(id, message) for a broadcast or matrix-product error, or None."""
    where = _axes(inputs)
    found = _SHAPES.search(text)
    if found:
        s1, s2 = _parse(found.group(1)), _parse(found.group(2))
        return _broadcast(s1, s2, where)
    found = _TORCH_BROADCAST.search(text)
    if found:
        a, b = int(found.group(1)), int(found.group(2))
        return ("broadcast", f"two arrays do not line up in an element-wise operation: an axis of length "
                             f"{_size(a, where)} met one of length {_size(b, where)}. Look at which axis each "
                             "operand's sizes stand for (rows N, features D, units H).")
    found = _MATMUL_NP.search(text)
    if found and "matmul" in text:
        b, a = int(found.group(1)), int(found.group(2))
        return _matmul(a, b, where)
    found = _MATMUL_TORCH.search(text)
    if found:
        return _matmul(int(found.group(2)), int(found.group(3)), where)
    return None


def _matmul(a, b, where):
    return ("transposed", f"a matrix product @ met an axis of length {_size(a, where)} with one of length "
                          f"{_size(b, where)}: in a product the last axis of the left operand meets the first "
                          "of the right, so one operand is transposed or the two are in the wrong order.")


def _broadcast(s1, s2, where):
    shapes = f"{s1} and {s2}"
    if len(s1) == 2 and len(s2) == 2 and 1 not in s1 + s2 and (s1[1] == s2[0] or s1[0] == s2[1]):
        k = s1[1] if s1[1] == s2[0] else s1[0]
        return ("elementwise_for_matmul",
                f"you multiplied element by element arrays of shapes {shapes}, which share an axis of length "
                f"{_size(k, where)}: where the entries along a shared axis are to be multiplied and summed, "
                "that is a matrix product, not the element-wise *.")
    if 1 in s1 + s2 and len(s1) == len(s2):
        return ("missing_axis", f"arrays of shapes {shapes} do not broadcast: an axis of length 1 stands where "
                                "another axis is needed; look at where an axis was added or kept, and on which side.")
    if len(s1) != len(s2):
        short, long_ = (s1, s2) if len(s1) < len(s2) else (s2, s1)
        if short and long_ and short[-1] == long_[0] and short[-1] != long_[-1]:
            return ("missing_axis", f"arrays of shapes {shapes} do not broadcast: the one of shape {short} has "
                                    f"one value per {_size(short[-1], where)}, but broadcasting lines it up with "
                                    "the last axis. A reduction lost the axis it needs (keepdims), or ran over "
                                    "the wrong axis.")
        return ("missing_axis", f"arrays of shapes {shapes} do not broadcast: look at which axis the shorter one "
                                "lost or was reduced over.")
    return ("broadcast", f"arrays of shapes {shapes} do not line up in an element-wise operation "
                         f"(sizes: {', '.join(_size(n, where) for n in sorted(set(s1) | set(s2)))}): an operand is "
                         "transposed, or was reduced over the wrong axis.")


_SCALAR_ONLY = ("0-dimensional arrays can be converted", "only allowed on arrays with 0 dimensions",
                "only length-1 arrays", "can only convert an array of size 1", "must be real number, not")


def explain_error(err, inputs, signature: str = "", function_name: str = "") -> tuple:
    """(mistake id, message) naming the likely cause of ``err``, raised by the learner's function.

    ``inputs`` are the host inputs (name -> array, list or value) the function was called with;
    ``function_name`` the learner's function's ``__name__`` (to tell its own signature from a call inside it).
    """
    text = str(err).splitlines()[0][:300] if str(err) else ""
    for key, mistake_id, message in _STANDARD:
        if key in text:
            return mistake_id, message
    if any(key in text for key in _SCALAR_ONLY):
        return ("scalar_function", "a function or conversion for single numbers (math.exp, math.tanh, float(), "
                                   ".item()) met a whole array: look for math.* or float() where an element-wise "
                                   "xp.* function belongs.")
    if "has no len()" in text:
        return ("array_len", "len() is not defined for Array API arrays: look for len(x) or a loop over rows; "
                             "sizes come from x.shape.")
    if "out of bounds for array of dimension" in text:
        return ("wrong_axis", "a reduction or index names an axis the array does not have: look at how many axes "
                              "each array has (describe() gives the shapes) and which one each sum runs over.")
    if isinstance(err, NameError):
        found = _NAME.search(text)
        name = getattr(err, "name", None) or (found.group(1) if found else "?")
        if name in ("np", "numpy", "xp", "torch", "jnp", "cp", "math", "array_namespace"):
            return ("undefined_name", f"the name {name!r} is not defined where your function runs: an import is "
                                      "missing (in the file or cell), or xp was not taken from the inputs.")
        return ("undefined_name", f"the name {name!r} is not defined inside your function: a typo, or a variable "
                                  "from another cell or function that the check cannot see.")
    if isinstance(err, AttributeError):
        if "has no attribute" in text and "module" not in text:
            return ("array_method", "Array API arrays have few methods: reductions and conversions are "
                                    "functions of the namespace (xp.sum(x, axis=0), xp.mean(x), xp.astype(x, dtype)), "
                                    "not x.sum(0), x.mean(), x.astype(...).")
        return ("attribute", "a module or object has no such attribute: look for a misspelt function name, or a "
                             "NumPy name that the Array API spells differently (xp.concat, xp.permute_dims, "
                             "xp.linalg.vector_norm).")
    if isinstance(err, (ValueError, RuntimeError, TypeError)):
        shaped = _shape_error(text, inputs)
        if shaped is not None:
            return shaped
        if "broadcast" in text:
            return ("broadcast", "two shapes do not line up in an element-wise operation: look at which axis "
                                 "each operand's sizes stand for, and which axis each sum runs over.")
        if "matmul" in text or "mat1 and mat2" in text:
            return ("transposed", "the shapes of a matrix product do not line up: look at which axes meet in each @ "
                                  "(an operand transposed, or the two in the wrong order).")
    if isinstance(err, TypeError):
        if re.search(r"positional argument|unexpected keyword|required (positional|keyword)", text):
            own = [n for n in (function_name, "<lambda>", signature.split("(")[0]) if n]
            if any(text.startswith(f"{n}()") for n in own):
                call = f" it is called as {signature}" if signature else ""
                return ("signature", f"your function's parameters do not match the exercise:{call}, with the "
                                     "arguments in that order.")
            return ("call_arguments", "a function inside yours was called with arguments it does not take: in the "
                                      "Array API, axis, keepdims and dtype are keywords (xp.sum(x, axis=0)).")
        if "NoneType" in text:
            return ("none_value", "something in your function is None where an array or number belongs: a helper "
                                  "that does not return its result, or a variable never assigned.")
        if "not callable" in text:
            return ("not_callable", "you called something that is not a function, x(…) on an array or number: "
                                    "an operator missing before a parenthesis, or a function's name reused for a "
                                    "value.")
        if "not iterable" in text or "cannot unpack" in text:
            return ("unpacking", "unpacking failed: look at how many values a helper returns and how many names "
                                 "receive them.")
        return ("type_error", "an operation got a value of the wrong type: look for a list, None or a tuple "
                              "where an array belongs.")
    if isinstance(err, IndexError):
        return ("index_error", "an index is out of range, or indexes more axes than the array has: look at the "
                               "shapes in describe() (the Array API also asks to index every axis, x[i, ...]).")
    if isinstance(err, ZeroDivisionError):
        return ("zero_division", "a division by zero of Python numbers: look at a size or count that is 0, "
                                 "such as a step number or a length taken from the wrong axis.")
    if isinstance(err, (OverflowError, FloatingPointError)):
        return ("overflow", "a number overflowed: look for an exp of a large value that a stable form avoids.")
    if isinstance(err, RecursionError):
        return ("recursion", "your function calls itself without end: a helper with the same name as the "
                             "exercise?")
    return ("error", "")
