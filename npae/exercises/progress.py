"""Honest progress: what the learner has done in this Python session, exercise by exercise.

Every ``npae.exercises.check(name, fn)`` records its result here (the latest check of an exercise
wins). ``progress()`` reads the record back as a ``Progress``: per exercise *passed*, *failing*
(with the mistakes the checker named), *not implemented* (the function raised
``NotImplementedError`` or returned ``None`` / ``...``, as the learner copies' stubs do) or *not
checked* (no check has run in this session). Each notebook chapter ends with:

    print(npae.exercises.progress(chapter=1))
    # chapter 1: 3 of 9 exercises done; not implemented yet: tanh_derivative, …; failing: dense_backward (transposed)

``npae exercises check FILE.py`` builds the same table from its own checks (``Progress.of``).
"""

from __future__ import annotations

import inspect

from npae.exercises.registry import REGISTRY, get

__all__ = ["STATUSES", "Progress", "progress", "record", "reset_progress", "reveal", "yours_or_npae"]

#: The status of one exercise, in the order the table groups them.
STATUSES = ("passed", "failing", "not implemented", "not checked")

#: exercise name -> the CheckResult of its latest check in this session.
_SESSION: dict = {}

#: The chapter modules' names, for ``progress(chapter="contractive")``.
CHAPTERS = {"from_scratch": 1, "gradient_checking": 2, "sparse_denoising": 3, "contractive": 4, "variational": 5}


def status_of(result) -> str:
    """"passed", "failing", "not implemented" or "not checked" (``result`` None) for a CheckResult."""
    if result is None:
        return "not checked"
    if result.passed:
        return "passed"
    if "not_implemented" in result.mistakes:
        return "not implemented"
    return "failing"


def record(result) -> None:
    """Keep ``result`` (a ``CheckResult``) as the session's latest check of its exercise."""
    _SESSION[result.name] = result


def reset_progress(names=None) -> None:
    """Forget the session's checks (all of them, or those of ``names``)."""
    if names is None:
        _SESSION.clear()
    else:
        for name in names:
            _SESSION.pop(get(name).name, None)


class Progress:
    """Where the learner stands on a set of exercises.

    ``str(p)`` is a summary line ("3 of 9 exercises done; not implemented yet: …; failing: …")
    followed by one line per exercise; ``bool(p)`` is True when every exercise passed.

    Attributes
    ----------
    done : int
        Exercises whose latest check passed.
    total : int
        Exercises in scope.
    entries : list of (name, status, mistakes)
        In course order; ``status`` one of ``STATUSES``, ``mistakes`` the named mistake ids of a
        failing check (empty otherwise).
    title : str
        What the scope is ("chapter 1", "all exercises", …), the start of the summary line.
    """

    def __init__(self, entries, title: str = "exercises"):
        self.entries = [(name, status, tuple(mistakes)) for name, status, mistakes in entries]
        self.title = title

    @classmethod
    def of(cls, results: dict, names=None, title: str = "exercises") -> "Progress":
        """The progress of ``names`` (default: the keys of ``results``) given ``{name: CheckResult}``."""
        names = list(results) if names is None else [get(n).name for n in names]
        entries = []
        for name in names:
            result = results.get(name)
            status = status_of(result)
            named = [m for m in result.mistakes if m not in ("not_implemented",)] if status == "failing" else []
            entries.append((name, status, named))
        return cls(entries, title)

    # ------------------------------------------------------------------ the numbers
    @property
    def total(self) -> int:
        return len(self.entries)

    @property
    def done(self) -> int:
        return len(self.passed)

    def _with(self, status) -> list:
        return [name for name, s, _ in self.entries if s == status]

    @property
    def passed(self) -> list:
        """The names of the exercises that passed."""
        return self._with("passed")

    @property
    def failing(self) -> dict:
        """{name: [mistake ids]} of the exercises whose latest check failed."""
        return {name: list(m) for name, s, m in self.entries if s == "failing"}

    @property
    def not_implemented(self) -> list:
        """The names of the exercises still a stub (``raise NotImplementedError``, ``None``, ``...``)."""
        return self._with("not implemented")

    @property
    def not_checked(self) -> list:
        """The names of the exercises no check has run on in this session."""
        return self._with("not checked")

    @property
    def all_done(self) -> bool:
        return self.done == self.total

    def __bool__(self) -> bool:
        return self.all_done

    def __len__(self) -> int:
        return self.total

    # ------------------------------------------------------------------ the text
    @property
    def summary(self) -> str:
        """One line: "chapter 1: 3 of 9 exercises done; not implemented yet: …; failing: …"."""
        word = "exercise" if self.total == 1 else "exercises"
        parts = [f"{self.done} of {self.total} {word} done"]
        if self.total and self.all_done:
            parts[0] += " — all passed"
        if self.not_implemented:
            parts.append("not implemented yet: " + ", ".join(self.not_implemented))
        if self.failing:
            parts.append("failing: " + ", ".join(
                f"{name} ({', '.join(m)})" if m else name for name, m in self.failing.items()))
        if self.not_checked:
            parts.append("not checked yet: " + ", ".join(self.not_checked))
        return f"{self.title}: " + "; ".join(parts)

    def table(self) -> str:
        """One line per exercise: its name, status and named mistakes."""
        if not self.entries:
            return ""
        width = max(len(name) for name, _, _ in self.entries)
        lines = []
        for name, status, mistakes in self.entries:
            mark = {"passed": "✓", "failing": "✗"}.get(status, "·")
            detail = f" — {', '.join(mistakes)}" if mistakes else ""
            lines.append(f"  {mark} {name:<{width}}  {status}{detail}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return "\n".join(t for t in (self.summary, self.table()) if t)

    def __repr__(self) -> str:
        return f"<Progress {self.title}: {self.done} of {self.total} done>"

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the table, not the repr
        printer.text(str(self))


def progress(chapter=None, names=None) -> Progress:
    """What the learner has done in this Python session: per exercise passed / failing / not implemented.

    Parameters
    ----------
    chapter : int, str or sequence of them, optional
        Only the exercises of this chapter: 1 (or "from_scratch"), 2 ("gradient_checking"),
        3 ("sparse_denoising"), 4 ("contractive"), 5 ("variational");
        ``npae.exercises.names(chapter=...)`` lists them.
    names : sequence of str, optional
        Only these exercises (in the order given). With neither, every exercise in course order.

    Returns
    -------
    Progress
        ``.done``, ``.total``, ``.passed``, ``.failing`` ({name: mistake ids}), ``.not_implemented``,
        ``.not_checked``, ``.all_done``; ``print(progress(chapter=1))`` shows the summary line
        ("chapter 1: 3 of 9 exercises done; not implemented yet: …; failing: …") and the table.

    Examples
    --------
    >>> import npae.exercises as ex
    >>> p = ex.progress(chapter=1)      # at the end of chapter 1
    >>> print(p)                        # doctest: +SKIP
    >>> p.done, p.total                 # doctest: +SKIP
    (3, 9)
    """
    if chapter is not None and names is not None:
        raise ValueError("progress() takes chapter= or names=, not both.")
    ordered = sorted(REGISTRY.values(), key=lambda e: e.chapter)
    if names is not None:
        if isinstance(names, str):
            names = [names]
        selected = [get(n).name for n in names]
        title = "exercises"
    elif chapter is not None:
        chapters = [chapter] if isinstance(chapter, (int, str)) else list(chapter)
        chapters = [CHAPTERS.get(c, c) if isinstance(c, str) else c for c in chapters]
        known = sorted({e.chapter for e in ordered})
        unknown = [c for c in chapters if c not in known]
        if unknown:
            raise ValueError(f"No exercises in chapter {unknown[0]!r}; the chapters with exercises are "
                             f"{', '.join(map(str, known))}.")
        selected = [e.name for e in ordered if e.chapter in chapters]
        title = (f"chapter {chapters[0]}" if len(chapters) == 1 else
                 "chapters " + ", ".join(map(str, chapters)))
    else:
        selected = [e.name for e in ordered]
        title = "all exercises"
    return Progress.of(_SESSION, selected, title)


def reveal(name: str, *objects) -> bool:
    """Print npae's own code for the exercise ``name`` (the source of ``objects``), but only once
    your function for it has passed ``check`` in this session; until then say what to do.

    The chapters call it right after an exercise, so a learner never sees the answer before
    earning it. Returns whether the code was shown.
    """
    get(name)  # an unknown name is an error here, not a silent "not yet"
    if name not in progress(names=[name]).passed:
        print(f"npae's code for {name} is shown here once your {name} passes its check in this session: "
              f"write it, run npae.exercises.check({name!r}, your_function), then run this cell again.")
        return False
    for obj in objects:
        print(inspect.getsource(obj))
    return True


def yours_or_npae(name: str, fn):
    """``fn`` once it has passed ``check(name, fn)`` in this session; until then npae's own function
    for the exercise, with the same signature (one array, or a tuple where the exercise returns several).

    A chapter runs its experiments on the learner's function where it is right and on npae's where it
    is not yet, and says which (printed). npae's function cannot be passed to ``check`` in its place.
    """
    exercise = get(name)
    if name in progress(names=[name]).passed:
        print(f"{name}: yours")
        return fn
    print(f"{name}: npae's (yours joins once it passes its check)")

    def npae_own(*args):
        out = exercise.reference(**dict(zip(exercise.arguments, args)))
        return out[0] if len(out) == 1 else out

    npae_own.npae_reference_of = name
    return npae_own
