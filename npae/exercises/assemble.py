"""The capstone: an npae model that trains on the functions you wrote.

Through chapters 1–5 you wrote each piece of an autoencoder as a plain function and checked it
with ``npae.exercises.check``. ``assemble`` puts those functions where npae's own code runs, and
hands back an ordinary npae estimator: ``fit``, ``transform``, ``reconstruct``, ``score`` and
``save`` work as usual, but the arithmetic of every training step is yours:

    import npae.exercises as ex

    mine = {"dense_forward": dense_forward, "dense_backward": dense_backward,
            "relu_derivative": relu_derivative, "bce_with_logits": bce_with_logits,
            "bce_with_logits_grad": bce_with_logits_grad, "adam_step": adam_step}
    model = ex.assemble(mine, model="autoencoder", hidden_sizes=(64,), latent_dim=16,
                        epochs=5, random_state=0)
    print(model.summary())         # which exercises are yours, and where each one runs
    model.fit(X)                   # the same numbers as npae.Autoencoder(same parameters).fit(X)

Exercises you leave out (or that still ``raise NotImplementedError``) run npae's own code.

How your functions are wired in
-------------------------------
An npae model is a few objects that call one another; ``assemble`` swaps each for a subclass
whose method calls your function, with the arrays npae's method would have used:

===========================  ======================================================================
your function                where it runs
===========================  ======================================================================
dense_forward                ``Dense.forward`` of every dense layer: z = dense_forward(x, W, b)
dense_backward               ``Dense.backward``: dx, dW, db = dense_backward(x, W, b, grad_out);
                             dW and db are *added* into the layer's gradients (``+=``)
dense_activation_backward    a dense layer and the activation after it, backward in one call
<act>_derivative             ``Activation.backward``: grad_out · f′(z), f′ your function
<act>_second_derivative      f″, where the contractive penalty's gradient asks the activation for it
mse_grad, bce_with_logits,   the reconstruction loss (``model.loss_``, the VAE's ``likelihood_``):
bce_with_logits_grad         per-row values and their gradient; the model divides by N
adam_step                    ``Adam._update``: one call per parameter array and step
l1_activity_grad,            the sparse model's penalty gradient, added to dL/dh where the
kl_sparsity_grad             decoder's backward reaches the code
masking_noise,               the denoiser's corruption of each training batch (npae draws the mask
gaussian_noise               or ε from the model's seed, your function applies it)
contractive_penalty(_grad)   the one-layer contractive penalty and its two partial derivatives
contractive_jacobian         the deep encoder's Jacobian (its penalty value, and ``jacobian()``)
gaussian_kl(_grad)           the VAE's KL term and its gradient
reparameterize_backward      the VAE's junction: dz → dmu, dlog_var
iwae_bound                   ``VAE.log_likelihood``: the importance-weighted bound
===========================  ======================================================================

The subclasses override methods, so npae's speed kernels (``npae.kernels``, which replace npae's
*own* methods) never stand in for your code: your function runs in ``"fast"`` and in
``"reference"`` mode alike. The training steps are npae's, in ``npae.models``; the contractive
model's, the VAE's and the sparse model's KL step are repeated below (``_forward_backward``), as
they call npae's module functions where yours must go. ``MODEL_EXERCISES[model]`` lists the
exercises each model runs; ``model.summary()`` says where each runs with its hyperparameters.

Which function is wrong?
------------------------
Each function is checked against its exercise when it is plugged in (``npae.exercises.check``;
the reports are in ``model.learner_checks``), and a failing one is named in a warning. Then, for
the first ``compare_steps`` training steps (3), every call to one of your functions is also
computed by npae on the same inputs: the first call whose result differs stops ``fit`` with a
``LearnerFunctionError`` naming the function, the exercise, the step and the layer where it
happened. Set ``model.on_disagreement = "warn"`` to be told and train on anyway (and see what the
mistake does to the loss curve), or ``model.compare_steps = 0`` to skip the comparison.
``npae.gradcheck.check_model(model, X)`` compares the whole assembled backward pass with central
differences, as for any npae model.

(``npae.exercises.assemble`` is the function; take this module's other names with
``from npae.exercises.assemble import MODEL_EXERCISES``.)
"""

from __future__ import annotations

import warnings

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from npae import backend as B
from npae import losses, penalties
from npae.exercises.checker import check
from npae.exercises.registry import REGISTRY, get
from npae.gradcheck import relative_error
from npae.layers import Activation, Dense, Sequential
from npae.models import (
    VAE,
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
)
from npae.models.base import MODEL_CLASSES
from npae.models.variational import clamp_log_var, clamp_log_var_grad, reparameterize, reparameterize_grad
from npae.noise import GaussianNoise, MaskingNoise
from npae.optimizers import Adam
from npae.validation import check_option

__all__ = ["LearnerFunctionError", "LearnerFunctionWarning", "MODELS", "MODEL_EXERCISES", "assemble"]

#: The models ``assemble`` builds, and the npae class each one is.
MODELS = {"autoencoder": Autoencoder, "sparse": SparseAutoencoder, "denoising": DenoisingAutoencoder,
          "contractive": ContractiveAutoencoder, "vae": VAE}

_EVERY_MODEL = ("dense_forward", "dense_backward", "sigmoid_derivative", "tanh_derivative", "relu_derivative",
              "mse_grad", "bce_with_logits", "bce_with_logits_grad", "adam_step", "dense_activation_backward")

#: The exercises each model can run: chapter 1's (and chapter 2's fused backward) for all of them,
#: then the chapter of the model (3: sparse, denoising; 2 and 4: contractive; 5: vae).
MODEL_EXERCISES = {
    "autoencoder": _EVERY_MODEL,
    "sparse": _EVERY_MODEL + ("l1_activity_grad", "kl_sparsity_grad"),
    "denoising": _EVERY_MODEL + ("masking_noise", "gaussian_noise"),
    "contractive": _EVERY_MODEL + ("tanh_second_derivative", "sigmoid_second_derivative", "contractive_penalty",
                                 "contractive_penalty_grad", "contractive_jacobian"),
    "vae": _EVERY_MODEL + ("gaussian_kl", "gaussian_kl_grad", "reparameterize_backward", "iwae_bound"),
}

#: activation name -> (its first-derivative exercise, its second-derivative exercise)
_DERIVATIVES = {"sigmoid": ("sigmoid_derivative", "sigmoid_second_derivative"),
                "tanh": ("tanh_derivative", "tanh_second_derivative"),
                "relu": ("relu_derivative", None)}

#: Largest relative error between your result and npae's on the same inputs, by the model's dtype.
TOLERANCE = {"float64": 1e-8, "float32": 1e-4}


class LearnerFunctionError(RuntimeError):
    """One of the learner's functions gave another result than npae's on the same inputs, or raised.

    Attributes
    ----------
    function : str
        The exercise name of the function.
    where : str
        The layer or step in which it happened.
    """

    def __init__(self, message: str, function: str, where: str):
        super().__init__(message)
        self.function, self.where = function, where


class LearnerFunctionWarning(UserWarning):
    """A learner's function fails its exercise check, or (``on_disagreement="warn"``) disagrees
    with npae during training."""


# ---------------------------------------------------------------------- assemble
def _check_functions(functions, kind: str) -> dict:
    """The dict of learner functions, refused with the valid names if any name is wrong."""
    if not isinstance(functions, dict):
        raise TypeError(f"assemble(functions, ...) needs a dict {{exercise name: your function}}; got "
                        f"{type(functions).__name__}. Example: {{'dense_forward': dense_forward}}.")
    valid = MODEL_EXERCISES[kind]
    unknown = [n for n in functions if n not in REGISTRY]
    if unknown:
        raise ValueError(f"Unknown exercise name(s) {', '.join(map(repr, unknown))} in functions. model={kind!r} "
                         f"runs these exercises: {', '.join(valid)}.")
    elsewhere = [n for n in functions if n not in valid]
    if elsewhere:
        homes = {n: [m for m, names in MODEL_EXERCISES.items() if n in names] for n in elsewhere}
        said = "; ".join(f"{n!r} is run by model={', '.join(map(repr, ms))}" if ms else f"{n!r} is run by no model"
                         for n, ms in homes.items())
        raise ValueError(f"model={kind!r} does not run {', '.join(map(repr, elsewhere))} ({said}). The exercises "
                         f"model={kind!r} runs: {', '.join(valid)}.")
    for name, fn in functions.items():
        if not callable(fn):
            raise TypeError(f"functions[{name!r}] must be your function; got {type(fn).__name__}.")
    return dict(functions)


def _assembled_class(kind: str, functions: dict, checks: dict, not_implemented: tuple):
    """A subclass of npae's model class for ``kind``, carrying the learner's functions.

    It takes the npae class's name (so its repr reads ``Autoencoder(...)``) and is kept out of
    npae's registry of model classes, which ``npae.load`` reads (a saved assembled model loads as
    npae's own).
    """
    base = MODELS[kind]
    saved = dict(MODEL_CLASSES)
    cls = type(base.__name__, (_MIXINS[kind], base), {
        "__module__": __name__, "__qualname__": base.__name__, "__doc__": base.__doc__,
        "_kind": kind, "_npae_class": base, "_functions": functions, "_checks": checks,
        "_not_implemented": not_implemented})
    MODEL_CLASSES.clear()
    MODEL_CLASSES.update(saved)
    return cls


def _unpickle(kind, functions, checks, not_implemented):
    cls = _assembled_class(kind, functions, checks, not_implemented)
    return object.__new__(cls)


def assemble(functions, model: str = "autoencoder", **params):
    """An npae model whose training runs on your functions: the capstone of chapters 1–5.

    Parameters
    ----------
    functions : dict
        {exercise name: your function}, e.g. ``{"dense_forward": dense_forward, ...}``. Any
        exercise of the model (``MODEL_EXERCISES[model]``) may be given; the others run npae's
        own code, and so does a function that still raises ``NotImplementedError``.
    model : {"autoencoder", "sparse", "denoising", "contractive", "vae"}
        The npae model to build: ``Autoencoder``, ``SparseAutoencoder``,
        ``DenoisingAutoencoder``, ``ContractiveAutoencoder`` or ``VAE``.
    **params
        That model's hyperparameters, as for the npae class (``hidden_sizes``, ``epochs``,
        ``random_state``, ``dtype``, …).

    Returns
    -------
    estimator
        An instance of (a subclass of) the npae class with ``params``: ``fit``, ``transform``,
        ``score``, ``save`` as usual. ``summary()`` says which exercises are yours and where each
        runs; ``learner_functions`` and ``learner_checks`` hold your functions and their check
        reports; ``compare_steps`` and ``on_disagreement`` steer the comparison with npae.

    Raises
    ------
    ValueError
        An unknown model, or a name in ``functions`` that is not an exercise of that model.
    TypeError
        A value in ``functions`` that is not callable, or a hyperparameter the model lacks.

    Warns
    -----
    LearnerFunctionWarning
        For each function that fails its exercise check (``npae.exercises.check``): the model
        is built with it, and ``fit`` will stop where it first disagrees with npae.

    Notes
    -----
    With correct functions, ``fit`` gives npae's own results for the same hyperparameters and
    ``random_state``, to rounding (the initial weights, minibatches and noise are npae's draws).
    """
    kind = check_option(model, tuple(MODELS), "model")
    functions = _check_functions(functions, kind)
    accepted = set(MODELS[kind]().get_params(deep=False))
    wrong = sorted(set(params) - accepted)
    if wrong:
        raise TypeError(f"{MODELS[kind].__name__} has no hyperparameter {', '.join(map(repr, wrong))}; "
                        f"it takes {', '.join(sorted(accepted))}.")
    checks = {name: check(name, fn, random_state=0) for name, fn in functions.items()}
    stubs = tuple(n for n, r in checks.items() if "not_implemented" in r.mistakes)
    plugged = {n: fn for n, fn in functions.items() if n not in stubs}
    estimator = _assembled_class(kind, plugged, checks, stubs)(**params)
    for name in plugged:
        if not checks[name].passed:
            named = [m for m in checks[name].mistakes if m not in ("wrong_values", "error")]
            warnings.warn(
                f"Your {name} does not pass its exercise check yet" + (f" (mistakes named: {', '.join(named)})"
                                                                       if named else "")
                + f"; fit() will stop where it first disagrees with npae. print(model.learner_checks[{name!r}]) "
                "shows the report.", LearnerFunctionWarning, stacklevel=2)
    return estimator


# ---------------------------------------------------------------------- calling your functions
def _host64(value):
    """A copy of ``value`` on the host for npae's reference: float arrays in float64, lists
    element by element, anything else (numbers, activation objects) as it is."""
    if isinstance(value, (list, tuple)):
        return [_host64(v) for v in value]
    try:
        B.backend_of(value)
    except TypeError:
        return value
    host = B.to_numpy(value)
    xp = array_namespace(host)
    return xp.asarray(host, copy=True) if host.dtype == xp.bool else xp.astype(host, xp.float64)


def _backend_name(values):
    """The backend name of the first array among ``values`` (lists searched too), or None."""
    for value in values:
        if isinstance(value, (list, tuple)):
            name = _backend_name(value)
            if name is not None:
                return name
            continue
        try:
            return B.backend_of(value).name
        except TypeError:
            continue
    return None


def _unchanged(before, value) -> bool:
    """Whether ``value`` still holds what its host copy ``before`` holds (lists element by element)."""
    if isinstance(before, list):
        return all(_unchanged(b, v) for b, v in zip(before, value))
    if before is value or not hasattr(before, "shape"):
        return True
    after = _host64(value)
    return tuple(after.shape) == tuple(before.shape) and bool(array_namespace(after).all(after == before))


class _Assembly:
    """The learner's functions as one model uses them: calls, comparisons with npae, and a record.

    Every layer, loss and optimizer of an assembled model holds its model's assembly and calls
    ``run(name, where, *args)`` in place of npae's code.
    """

    def __init__(self, functions: dict, dtype: str, compare_steps: int, on_disagreement: str, checks: dict):
        self.functions, self.checks = functions, checks
        self.tol = TOLERANCE.get(dtype, 1e-4)
        self.compare_steps = int(compare_steps)
        self.on_disagreement = check_option(on_disagreement, ("raise", "warn"), "on_disagreement")
        self.steps = 0                 # training steps completed
        self.training = False          # inside a training step
        self.context = "a pass outside training"
        self.disagreed = {}            # name -> message (warn mode)
        self._inside_reference = False

    def has(self, name: str) -> bool:
        return name in self.functions

    @property
    def comparing(self) -> bool:
        """True inside the first ``compare_steps`` training steps (not in a reference's own calls)."""
        return self.training and self.steps < self.compare_steps and not self._inside_reference

    def run(self, name: str, where: str, *args):
        """``functions[name](*args)``: checked against npae's reference in the first steps."""
        exercise = get(name)
        inputs = expected = None
        if self.comparing and name not in self.disagreed:
            inputs = dict(zip(exercise.arguments, (_host64(a) for a in args)))
            expected = self._reference(exercise, inputs)
        try:
            out = self.functions[name](*args)
        except LearnerFunctionError:
            raise
        except Exception as err:  # the learner's code may raise anything: name it and where
            raise LearnerFunctionError(
                f"Your {name} raised {type(err).__name__}: {err} — in {self.context}, {where}. "
                f"npae.exercises.check({name!r}, {name}) runs it on small inputs and names the likely cause.",
                name, where) from err
        outputs = self._outputs(exercise, out, where)
        if expected is not None:
            changed = [k for (k, before), a in zip(inputs.items(), args) if not _unchanged(before, a)]
            self._compare(exercise, outputs, expected, where, changed, _backend_name(args))
        return outputs[0] if len(outputs) == 1 else outputs

    def _reference(self, exercise, inputs):
        """npae's answer on ``inputs``, host float64 copies of the learner's (activations are
        passed as given, so a nested function of yours, say f′, runs there without being compared)."""
        self._inside_reference = True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return exercise.reference(**inputs)
        finally:
            self._inside_reference = False

    def _outputs(self, exercise, out, where) -> tuple:
        n = len(exercise.outputs)
        if n == 1:
            return (out[0] if isinstance(out, (tuple, list)) and len(out) == 1 else out,)
        if not isinstance(out, (tuple, list)) or len(out) != n:
            got = f"{len(out)} values" if isinstance(out, (tuple, list)) else f"a {type(out).__name__}"
            raise LearnerFunctionError(
                f"Your {exercise.name} must return {n} arrays ({', '.join(exercise.outputs)}); it returned {got} "
                f"in {self.context}, {where}.", exercise.name, where)
        return tuple(out)

    def _compare(self, exercise, outputs, expected, where, changed=(), backend=None) -> None:
        wrong = [f"it changed its input {k} in place (leave the inputs as they are and return new arrays)"
                 for k in changed]
        for out_name, a, e in zip(exercise.outputs, outputs, expected):
            try:
                host = _host64(a)
                shape = tuple(host.shape)
            except (TypeError, AttributeError):
                wrong.append(f"its {out_name} is a {type(a).__name__}, not an array")
                continue
            if backend is not None and _backend_name([a]) != backend:
                wrong.append(f"its {out_name} is a {_backend_name([a])} array, but the inputs were {backend} arrays "
                             "(take the namespace from the inputs: xp = array_namespace(x))")
                continue
            if shape != tuple(e.shape):
                wrong.append(f"its {out_name} has shape {shape} where npae's has {tuple(e.shape)}")
                continue
            err = relative_error(host, e)
            if not err <= self.tol:  # NaN fails too
                wrong.append(f"its {out_name} differs from npae's (relative error {err:.1e})")
        if not wrong:
            return
        name = exercise.name
        first = "is the first of your functions to disagree" if not self.disagreed else "disagrees"
        checked = self.checks.get(name)
        said = ""
        if checked is not None and not checked.passed:
            fails = dict.fromkeys(line.strip() for line in checked.lines[1:] if "FAIL" in line)
            said = " Its exercise check said: " + " ".join(fails)
        if checked is not None and checked.passed:
            advice = (f" Your function passed npae.exercises.check({name!r}, ...) on the check's inputs but not on "
                      "the model's: look for a number typed in where an argument belongs (a size, or a value such "
                      "as the target or a weight that the model passes differently), or a state kept between "
                      "calls; fix it, check again and assemble again.")
        else:
            advice = f" Run npae.exercises.check({name!r}, {name}), fix what it names and assemble again."
        message = (f"Your {name} (exercise {name!r}, chapter {exercise.chapter}: {exercise.title}) {first} with "
                   f"npae: in {self.context}, {where}, " + "; ".join(wrong) + "." + said + advice)
        if self.on_disagreement == "raise":
            raise LearnerFunctionError(message + " (To train with it anyway, set model.on_disagreement = 'warn'.)",
                                       name, where)
        self.disagreed[name] = message
        warnings.warn(message, LearnerFunctionWarning, stacklevel=2)


# ---------------------------------------------------------------------- layers, activations, loss, optimizer
def _adopt(cls, obj, **extra):
    """A ``cls`` instance holding ``obj``'s state (same parameter arrays), plus ``extra``."""
    new = object.__new__(cls)
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(extra)
    return new


class LearnerDense(Dense):
    """A ``Dense`` layer whose forward and backward are the learner's ``dense_forward`` and
    ``dense_backward`` (npae's where one is missing)."""

    def forward(self, x):
        if not self._assembly.has("dense_forward"):
            return super().forward(x)
        self._x = x
        return self._assembly.run("dense_forward", self._where, x, self.params["W"], self.params["b"])

    def backward(self, grad_out, input_grad: bool = True):
        if not self._assembly.has("dense_backward"):
            return super().backward(grad_out, input_grad)
        self._require_forward(self._x)
        dx, dW, db = self._assembly.run("dense_backward", self._where, self._x, self.params["W"],
                                        self.params["b"], grad_out)
        self.grads["W"] += dW  # add, never assign: the contractive penalty adds a second dW
        self.grads["b"] += db
        return dx if input_grad else None

    def infer(self, x):
        """The learner's ``dense_forward`` for inference (transform, score_samples): no cache kept."""
        if not self._assembly.has("dense_forward"):
            return super().infer(x)
        return self._assembly.run("dense_forward", self._where, x, self.params["W"], self.params["b"])

    def __repr__(self) -> str:
        yours = [n for n in ("dense_forward", "dense_backward") if self._assembly.has(n)]
        return super().__repr__() + (f" ← your {', '.join(yours)}" if yours else "")


class LearnerActivationFunction:
    """npae's activation ``base`` (f, f′, f″) with f′ and f″ the learner's where given."""

    def __init__(self, base, assembly, where: str):
        self.base, self._assembly, self._where = base, assembly, where
        self.name = base.name
        self.df_exercise, self.d2f_exercise = _DERIVATIVES.get(base.name, (None, None))

    def f(self, z):
        return self.base.f(z)

    def df(self, z):
        if self._assembly.has(self.df_exercise):
            return self._assembly.run(self.df_exercise, self._where, z)
        return self.base.df(z)

    def d2f(self, z):
        if self.d2f_exercise is not None and self._assembly.has(self.d2f_exercise):
            return self._assembly.run(self.d2f_exercise, self._where, z)
        return self.base.d2f(z)

    def __call__(self, z):
        return self.f(z)

    def __repr__(self) -> str:
        return f"your {self.base!r}"


class LearnerActivation(Activation):
    """An ``Activation`` layer whose backward is grad_out · f′(z) with the learner's f′."""

    def backward(self, grad_out, input_grad: bool = True):
        self._require_forward(self._z)
        if not input_grad:
            return None
        return grad_out * self.activation.df(self._z)


class LearnerSequential(Sequential):
    """A ``Sequential`` whose backward runs each dense layer and the activation after it as one
    call of the learner's ``dense_activation_backward``."""

    def backward(self, grad_out, input_grad: bool = True):
        assembly, layers = self._assembly, self.layers
        if not layers:  # the identity network
            return grad_out if input_grad else None
        i = len(layers) - 1
        while i >= 0:
            layer = layers[i]
            fused = (isinstance(layer, Activation) and i > 0 and isinstance(layers[i - 1], Dense)
                     and assembly.has("dense_activation_backward"))
            first = i - 1 if fused else i
            wants_input = input_grad or first > 0
            if fused:
                dense = layers[i - 1]
                dense._require_forward(dense._x)
                dx, dW, db = assembly.run("dense_activation_backward", dense._where, dense._x, dense.params["W"],
                                          dense.params["b"], grad_out, layer.activation)
                dense.grads["W"] += dW
                dense.grads["b"] += db
                grad_out = dx if wants_input else None
            else:
                grad_out = layer.backward(grad_out, input_grad=wants_input)
            i = first - 1
        return grad_out


class LearnerLoss(losses.Loss):
    """npae's reconstruction loss ``base`` with its value and gradient the learner's where given."""

    _EXERCISES = {"bce": ("bce_with_logits", "bce_with_logits_grad"),
                  "bernoulli": ("bce_with_logits", "bce_with_logits_grad"), "mse": (None, "mse_grad")}

    def __init__(self, base, assembly):
        self.base, self._assembly = base, assembly
        self.name = base.name
        self.value_exercise, self.grad_exercise = self._EXERCISES.get(base.name, (None, None))

    def value(self, x, out):
        if self.value_exercise is not None and self._assembly.has(self.value_exercise):
            return self._assembly.run(self.value_exercise, "the reconstruction loss", x, out)
        return self.base.value(x, out)

    def grad(self, x, out):
        if self.grad_exercise is not None and self._assembly.has(self.grad_exercise):
            return self._assembly.run(self.grad_exercise, "the reconstruction loss's gradient", x, out)
        return self.base.grad(x, out)

    def value_and_grad(self, x, out):
        if not any(e is not None and self._assembly.has(e) for e in (self.value_exercise, self.grad_exercise)):
            return self.base.value_and_grad(x, out)  # npae's, as one call (a kernel may fuse the two)
        return self.value(x, out), self.grad(x, out)

    def output(self, out):
        return self.base.output(out)

    def check_target(self, x, who: str = "This model", name: str = "X") -> None:
        self.base.check_target(x, who, name)

    def __repr__(self) -> str:
        return f"your {self.base!r}"


class LearnerAdam(Adam):
    """Adam (and AdamW) whose update of each parameter array is the learner's ``adam_step``."""

    def step(self, pairs) -> None:
        self._position = 0
        super().step(pairs)

    def _update(self, param, grad, state) -> None:
        names = getattr(self, "_parameter_names", [])
        where = f"the Adam update of {names[self._position] if self._position < len(names) else 'a parameter'}"
        self._position += 1
        new, m, v = self._assembly.run("adam_step", where, param, grad, state["m"], state["v"], self.iterations,
                                       self.learning_rate, self.beta1, self.beta2, self.epsilon)
        state["m"], state["v"] = m, v
        if self.weight_decay:  # AdamW's decoupled decay, which the exercise leaves out
            new = new - self.learning_rate * self.weight_decay * param
        param[...] = new  # in place: the layers hold this very array


class LearnerMaskingNoise(MaskingNoise):
    """Masking noise applied by the learner's ``masking_noise`` (npae draws the mask)."""

    def _apply(self, x, mask):
        return self._assembly.run("masking_noise", "the corruption of a training batch", x, mask, self.rate), mask


class LearnerGaussianNoise(GaussianNoise):
    """Gaussian corruption clipped to [0, 1] by the learner's ``gaussian_noise`` (npae draws ε)."""

    def _apply(self, x, noise):
        x_tilde = self._assembly.run("gaussian_noise", "the corruption of a training batch", x, noise, self.std)
        v = x + self.std * noise
        return x_tilde, array_namespace(x).logical_and(v > self.low, v < self.high)


# ---------------------------------------------------------------------- the assembled models
class AssembledModel:
    """What every assembled model adds to its npae class (the first base of each assembled class).

    ``_build`` lets npae build the layers (so the initial weights are npae's, from the same seed),
    then swaps each for its learner subclass holding the same arrays; the loss, the optimizer and
    the corruption follow. The class itself is made by ``assemble``, one per call, and carries the
    learner's functions, so ``sklearn.base.clone`` gives a model of the same functions.

    Attributes
    ----------
    compare_steps : int, default=3
        For how many training steps every call to a learner's function is also computed by npae.
    on_disagreement : {"raise", "warn"}, default="raise"
        What the first disagreement does: stop ``fit`` with a ``LearnerFunctionError``, or warn
        (once per function) and train on with the learner's result.
    """

    _kind = "autoencoder"
    _npae_class = Autoencoder
    _functions: dict = {}       # exercise name -> the learner's function (implemented ones)
    _checks: dict = {}          # exercise name -> its CheckResult when plugged in
    _not_implemented: tuple = ()
    compare_steps = 3
    on_disagreement = "raise"

    # ------------------------------------------------------------------ what the model says
    @property
    def learner_functions(self) -> dict:
        """{exercise name: your function} for every exercise this model runs on your code."""
        return dict(self._functions)

    @property
    def learner_checks(self) -> dict:
        """{exercise name: npae.exercises.CheckResult} of each function given, when it was plugged in."""
        return dict(self._checks)

    def summary(self) -> str:
        """Which exercises are yours and where each runs; which are npae's; what training found."""
        plan = _plan(self._kind, self.get_params(deep=False), self._functions)
        lines = [f"{type(self).__name__} assembled from your functions (model={self._kind!r}):"]
        width = max(len(n) for n in MODEL_EXERCISES[self._kind])
        assembly = getattr(self, "_assembly", None)
        for name in MODEL_EXERCISES[self._kind]:
            used, where = plan[name]
            if name in self._functions:
                check_result = self._checks.get(name)
                state = "yours" if used else "yours, unused"
                if check_result is not None and not check_result.passed:
                    named = [m for m in check_result.mistakes if m not in ("wrong_values", "error")]
                    state += ", FAILS its check" + (f" ({', '.join(named)})" if named else "")
                if assembly is not None and name in assembly.disagreed:
                    state += ", DISAGREED with npae in training"
            elif name in self._not_implemented:
                state = "npae's (yours is not implemented yet)"
            else:
                state = "npae's"
            lines.append(f"  {name:<{width}}  {state}: {where}")
        if assembly is not None and assembly.compare_steps and not any(plan[n][0] for n in self._functions):
            lines.append("None of your functions runs in this model yet, so there was nothing to compare with npae.")
        elif assembly is not None and assembly.compare_steps:
            compared = min(assembly.steps, assembly.compare_steps)
            verdict = "; ".join(f"{n} disagreed" for n in assembly.disagreed) or "every call of yours agreed"
            lines.append(f"Compared with npae in {compared} of the first {assembly.compare_steps} training steps: "
                         f"{verdict}.")
        return "\n".join(lines)

    def loss_gap(self, npae_model) -> float:
        """The largest relative difference between this model's training loss and ``npae_model``'s,
        epoch by epoch (0 when your functions reproduce npae's to the last digit)."""
        yours, npaes = list(self.history_["loss"]), list(npae_model.history_["loss"])
        if len(yours) != len(npaes):
            raise ValueError(f"the two models trained for {len(yours)} and {len(npaes)} epochs; fit both with the "
                             "same parameters and data to compare them.")
        return max(abs(a - b) / abs(b) for a, b in zip(yours, npaes))

    def compare_with(self, npae_model) -> str:
        """Whose code this model ran, and how its training loss compares with ``npae_model``'s
        (npae's own model, fitted with the same parameters and data): the last epoch of each and
        the largest relative gap between the two curves."""
        gap = self.loss_gap(npae_model)
        yours, npaes = self.history_["loss"], npae_model.history_["loss"]
        if self.learner_functions:
            who = (f"Your code in this model: {', '.join(self.learner_functions)} (where each runs: "
                   "summary()); npae's reference for the rest.")
        else:
            who = ("None of this model's pieces are yours yet, so both runs are npae's reference code. "
                   "Write the exercises, then run this section again.")
        return (f"{who}\nfinal training loss: yours {yours[-1]:.4f}, npae's {npaes[-1]:.4f} "
                f"(largest relative gap over the {len(npaes)} epochs: {gap:.1e})")

    def __repr__(self, N_CHAR_MAX=700):
        text = super().__repr__(N_CHAR_MAX=N_CHAR_MAX)
        yours = ", ".join(self._functions) or "none"
        return f"{text}\n# assembled: your {yours}; npae's code for the rest (model.summary() says where)"

    # ------------------------------------------------------------------ building
    def _build(self, n_features: int, rng) -> None:
        super()._build(n_features, rng)
        self._assembly = _Assembly(self._functions, self.dtype, self.compare_steps, self.on_disagreement,
                                   self._checks)
        self._wire()

    def _wire(self) -> None:
        """Swap npae's layers and loss for the learner subclasses, keeping their arrays."""
        for attr in ("encoder_", "decoder_"):
            setattr(self, attr, self._wire_sequential(getattr(self, attr), attr[:-1]))
        for attr, name in (("mu_head_", "encoder.mu"), ("logvar_head_", "encoder.logvar")):
            head = getattr(self, attr, None)
            if head is not None:
                setattr(self, attr, _adopt(LearnerDense, head, _assembly=self._assembly,
                                           _where=f"{name} (Dense {head.in_features} → {head.out_features})"))
        for attr in ("loss_", "likelihood_"):
            if getattr(self, attr, None) is not None:
                setattr(self, attr, LearnerLoss(getattr(self, attr), self._assembly))

    def _wire_sequential(self, sequential, part: str):
        assembly, layers, k = self._assembly, [], -1
        for layer in sequential.layers:
            if isinstance(layer, Dense):
                k += 1
                layer = _adopt(LearnerDense, layer, _assembly=assembly,
                               _where=f"{part}.{k} (Dense {layer.in_features} → {layer.out_features})")
            elif isinstance(layer, Activation):
                act = LearnerActivationFunction(layer.activation, assembly,
                                                f"the {layer.activation.name} activation after {part}.{k}")
                layer = _adopt(LearnerActivation, layer, activation=act)
            layers.append(layer)
        return _adopt(LearnerSequential, sequential, layers=layers, _assembly=assembly)

    def _new_optimizer(self):
        optimizer = super()._new_optimizer()
        assembly = getattr(self, "_assembly", None)
        if assembly is not None and assembly.has("adam_step") and isinstance(optimizer, Adam):
            names = [f"{prefix}.{k}" for prefix, layer in self._named_layers() for k in layer.params]
            optimizer = _adopt(LearnerAdam, optimizer, _assembly=assembly, _parameter_names=names)
        return optimizer

    # ------------------------------------------------------------------ training
    def train_step(self, X):
        assembly = self._assembly
        assembly.compare_steps = int(self.compare_steps)
        assembly.on_disagreement = check_option(self.on_disagreement, ("raise", "warn"), "on_disagreement")
        assembly.context, assembly.training = f"training step {assembly.steps + 1}", True
        try:
            out = super().train_step(X)
        finally:
            assembly.context, assembly.training = "a pass outside training", False
        assembly.steps += 1
        return out

    def __reduce__(self):
        """Pickle as a model of the same functions (they are pickled by reference, as Python does)."""
        return _unpickle, (self._kind, self._functions, self._checks, self._not_implemented), self.__getstate__()

    def save(self, path, **kwargs) -> None:
        """Save the weights as npae's own model (``npae.load`` gives a plain npae estimator: your
        functions are code, which a checkpoint does not hold)."""
        self._check_is_fitted()
        plain = object.__new__(self._npae_class)
        plain.__dict__.update(self.__dict__)
        plain.save(path, **kwargs)


class AssembledSparse(AssembledModel):
    """The sparse model's penalty gradient from ``l1_activity_grad`` / ``kl_sparsity_grad``."""

    def _penalty_grad(self, h, z):
        assembly, weight = self._assembly, float(self.sparsity_weight)
        where = "the sparsity penalty's gradient at the code h"
        if self.sparsity == "l1" and assembly.has("l1_activity_grad"):
            return assembly.run("l1_activity_grad", where, h, weight)
        if self.sparsity == "kl" and assembly.has("kl_sparsity_grad"):
            return weight * assembly.run("kl_sparsity_grad", where, h, float(self.target_sparsity))
        return super()._penalty_grad(h, z)

    def _forward_backward(self, X):
        """npae's step, with the KL penalty's value and gradient as two calls (npae's is one)."""
        if not (self.sparsity == "kl" and self._assembly.has("kl_sparsity_grad") and float(self.sparsity_weight) > 0):
            return super()._forward_backward(X)
        z = self._code_logits(X, training=True)
        h = self.encoder_.layers[-1].forward(z)
        y = self.decoder_.forward(h)
        xp = array_namespace(y)
        nll, dy = self.loss_.value_and_grad(X, y)
        recon = xp.mean(nll)
        dh = self.decoder_.backward(dy * (1.0 / X.shape[0]))
        penalty = self._penalty(h, z)
        self.encoder_.backward(dh + self._penalty_grad(h, z), input_grad=False)
        return recon + penalty, {"reconstruction": recon, "sparsity": penalty}


class AssembledDenoising(AssembledModel):
    """The denoiser's corruption applied by ``masking_noise`` / ``gaussian_noise``."""

    def _observe_training_data(self, Xb, *, reset: bool) -> None:
        super()._observe_training_data(Xb, reset=reset)
        layer, assembly = self.noise_layer_, self._assembly
        if type(layer) is MaskingNoise and assembly.has("masking_noise"):
            self.noise_layer_ = _adopt(LearnerMaskingNoise, layer, _assembly=assembly)
        elif (type(layer) is GaussianNoise and assembly.has("gaussian_noise")
              and (layer.low, layer.high) == (0.0, 1.0)):  # the exercise clips to [0, 1]
            self.noise_layer_ = _adopt(LearnerGaussianNoise, layer, _assembly=assembly)


class AssembledContractive(AssembledModel):
    """The contractive penalty from ``contractive_penalty``, ``contractive_penalty_grad`` (one
    layer) and ``contractive_jacobian`` (any depth); f″ from the second-derivative exercises."""

    def _penalty_and_grad(self, Ws, zs, acts, weight: float):
        """P (unweighted), [dW_l] and [dz_l] of λ·P, as ``penalties.contractive_penalty_and_grad``."""
        assembly = self._assembly
        if len(Ws) == 1 and (assembly.has("contractive_penalty") or assembly.has("contractive_penalty_grad")):
            W, z, act = Ws[0], zs[0], penalties.contractive.check_encoder(Ws, zs, acts)[0]
            where = "the contractive penalty of encoder.0"
            if assembly.has("contractive_penalty"):
                P = assembly.run("contractive_penalty", where, W, z, act)
            else:
                P = array_namespace(z).mean(penalties.contractive.one_layer_penalty_rows(W, z, act))
            if assembly.has("contractive_penalty_grad"):
                dW, dz = assembly.run("contractive_penalty_grad", where, W, z, act, weight)
            else:
                _, dW, dz = penalties.contractive.one_layer_penalty_and_grad(W, z, act, weight=weight)
            return P, [dW], [dz]
        P, dWs, dzs = penalties.contractive_penalty_and_grad(Ws, zs, acts, weight=weight,
                                                             method=self.contractive_method)
        if len(Ws) > 1 and assembly.has("contractive_jacobian"):  # the value from your Jacobian
            T = assembly.run("contractive_jacobian", "the deep encoder's Jacobian", Ws, zs,
                             penalties.contractive.check_encoder(Ws, zs, acts))
            P = array_namespace(T).sum(T * T) * (1.0 / T.shape[0])
        return P, dWs, dzs

    def _forward_backward(self, X):
        """``ContractiveAutoencoder._forward_backward`` with ``_penalty_and_grad`` for the penalty."""
        h, zs = self._encoder_forward(X, training=True)
        y = self.decoder_.forward(h)
        xp = array_namespace(y)
        nll, dy = self.loss_.value_and_grad(X, y)
        recon = xp.mean(nll)
        g = self.decoder_.backward(dy * (1.0 / X.shape[0]))
        weight = float(self.contractive_weight)
        pairs = self._encoder_pairs()
        if weight > 0.0:
            Ws, acts = self._penalty_inputs()
            P, dWs, dzs = self._penalty_and_grad(Ws, zs, acts, weight)
            penalty = weight * P
        else:
            dWs = dzs = [None] * len(pairs)
            penalty = xp.zeros_like(recon)
        for (dense, act), dW, dz in zip(reversed(pairs), reversed(dWs), reversed(dzs)):
            if act is not None:
                g = act.backward(g)
            if dz is not None:
                g = g + dz  # the penalty's ∂(λP)/∂z_l joins the ordinary gradient at z_l
            g = dense.backward(g, input_grad=dense is not pairs[0][0])
            if dW is not None:
                dense.grads["W"] += dW
        return recon + penalty, {"reconstruction": recon, "contractive": penalty}

    def _jacobian(self, X):
        if not self._assembly.has("contractive_jacobian"):
            return super()._jacobian(X)
        _, zs = self._encoder_forward(X)
        Ws, acts = self._penalty_inputs()
        T = self._assembly.run("contractive_jacobian", "jacobian()", Ws, zs,
                               penalties.contractive.check_encoder(Ws, zs, acts))
        return array_namespace(T).permute_dims(T, (0, 2, 1))


class AssembledVAE(AssembledModel):
    """The VAE's KL term, its gradient, the reparameterization's backward and the IWAE bound."""

    def _kl(self, mu, log_var):
        if self._assembly.has("gaussian_kl"):
            return self._assembly.run("gaussian_kl", "the KL term", mu, log_var)
        return losses.gaussian_kl(mu, log_var)

    def _kl_grad(self, mu, log_var):
        if self._assembly.has("gaussian_kl_grad"):
            return self._assembly.run("gaussian_kl_grad", "the KL term's gradient", mu, log_var)
        return losses.gaussian_kl_grad(mu, log_var)

    def _reparameterize_backward(self, dz, mu, log_var, eps):
        if self._assembly.has("reparameterize_backward"):
            return self._assembly.run("reparameterize_backward", "the backward pass of z = mu + σ·ε",
                                      dz, mu, log_var, eps)
        return reparameterize_grad(dz, log_var, eps)

    def _terms(self, X, rng):
        xp = array_namespace(X)
        mu, log_var, _ = self._encode_stats(X)
        z, _ = reparameterize(mu, log_var, random_state=rng)
        nll = self.likelihood_.value(X, self.decoder_.forward(z))
        return xp.stack([nll, self._kl(mu, log_var)], axis=1)

    def _streamed_log_mean_weight(self, X, k: int, rng):
        if not self._assembly.has("iwae_bound"):
            return super()._streamed_log_mean_weight(X, k, rng)
        return self._assembly.run("iwae_bound", "log_likelihood()", self._log_weights(X, k, rng))

    def _forward_backward(self, X, eps=None, beta=None):
        """``VAE._forward_backward``, each junction a call that may be the learner's."""
        beta = float(self.beta) if beta is None else float(beta)
        N = X.shape[0]
        h = self.encoder_.forward(X)
        mu = self.mu_head_.forward(h)
        raw = self.logvar_head_.forward(h)
        log_var = clamp_log_var(raw)
        z, eps = reparameterize(mu, log_var, eps, random_state=self._rng)
        y = self.decoder_.forward(z)
        xp = array_namespace(y)
        nll, dy = self.likelihood_.value_and_grad(X, y)
        kl = self._kl(mu, log_var)
        recon, kl_mean = xp.mean(nll), xp.mean(kl)
        loss = xp.mean(nll + beta * kl)

        dz = self.decoder_.backward(dy * (1.0 / N))
        dmu, dlog_var = self._reparameterize_backward(dz, mu, log_var, eps)
        dmu_kl, dlog_var_kl = self._kl_grad(mu, log_var)
        dmu = dmu + (beta / N) * dmu_kl
        dlog_var = dlog_var + (beta / N) * dlog_var_kl
        dh = self.mu_head_.backward(dmu) + self.logvar_head_.backward(clamp_log_var_grad(dlog_var, raw))
        self.encoder_.backward(dh, input_grad=False)
        beta_log = xp.asarray(beta, dtype=loss.dtype, device=device_of(loss))
        return loss, {"reconstruction": recon, "kl": kl_mean, "beta": beta_log}


_MIXINS = {"autoencoder": AssembledModel, "sparse": AssembledSparse, "denoising": AssembledDenoising,
           "contractive": AssembledContractive, "vae": AssembledVAE}


# ---------------------------------------------------------------------- where each exercise runs
def _activation_names(kind: str, params: dict) -> tuple:
    """(names of the encoder's activations, names of every activation) for these hyperparameters."""
    from npae.activations import get_activation

    try:
        hidden = tuple(params.get("hidden_sizes") or ())
        act = get_activation(params["activation"]).name
        if kind == "vae":
            return (act,) if hidden else (), (act,) if hidden else ()
        latent = get_activation(params["latent_activation"]).name
    except (KeyError, TypeError, ValueError):
        return (), ()
    encoder = ((act,) if hidden else ()) + (latent,)
    return encoder, encoder


def _plan(kind: str, p: dict, given=()) -> dict:
    """{exercise: (used, where it runs or why not)} for a model of ``kind`` with params ``p``, the
    learner's functions ``given``."""
    encoder_acts, all_acts = _activation_names(kind, p)
    deep = bool(p.get("hidden_sizes"))
    heads = ", the heads mu and log_var" if kind == "vae" else ""
    if kind == "contractive":  # its encoder runs layer by layer, to inject the penalty's dz
        fused = ((True, "the decoder's Dense layers and their activations, backward in one call") if deep else
                 (False, "the contractive encoder runs layer by layer, and the decoder has no hidden layer"))
    elif kind == "vae" and not deep:
        fused = (False, "no hidden layer here (hidden_sizes=())")
    else:
        fused = (True, "each Dense layer and its activation, backward in one call")
    plan = {
        "dense_forward": (True, "every Dense layer's forward pass"),
        "dense_backward": (True, f"the backward pass of the Dense layers without an activation (the decoder's "
                                 f"output layer{heads}); dense_activation_backward does the others"
                           if "dense_activation_backward" in given else "every Dense layer's backward pass"),
        "dense_activation_backward": fused,
    }
    for act, (first, second) in _DERIVATIVES.items():
        plan[first] = ((True, f"f′ of every {act} layer, in the backward pass") if act in all_acts else
                       (False, f"no {act} layer here (its activations: {', '.join(all_acts) or 'none'})"))
        if second is not None:
            used = act in encoder_acts and float(p.get("contractive_weight", 0) or 0) > 0
            plan[second] = (used, f"f″ of the {act} encoder layers, in the contractive penalty's gradient" if used
                            else f"no {act} encoder layer with a contractive weight > 0 here")
    loss = p.get("likelihood") if kind == "vae" else p.get("loss")
    bce = loss in ("bce", "bernoulli")
    for name, what in (("bce_with_logits", "the reconstruction loss per row"),
                       ("bce_with_logits_grad", "the reconstruction loss's gradient")):
        plan[name] = (True, what) if bce else (False, f"this model's {'likelihood' if kind == 'vae' else 'loss'} "
                                                      f"is {loss!r}, not BCE")
    plan["mse_grad"] = ((True, "the reconstruction loss's gradient") if kind != "vae" and loss == "mse" else
                        (False, "the VAE's likelihoods are BCE and a Gaussian NLL" if kind == "vae"
                         else f"this model's loss is {loss!r}, not 'mse'"))
    adam = p.get("optimizer") in ("adam", "adamw")
    plan["adam_step"] = (True, "the optimizer's update of every parameter array") if adam else \
        (False, f"optimizer={p.get('optimizer')!r} is not Adam")
    if kind == "sparse":
        weight = float(p.get("sparsity_weight") or 0) > 0
        unused = f"sparsity={p.get('sparsity')!r}, sparsity_weight={p.get('sparsity_weight')!r}"
        for name, option in (("l1_activity_grad", "l1"), ("kl_sparsity_grad", "kl")):
            used = weight and p.get("sparsity") == option
            plan[name] = (True, "the sparsity penalty's gradient at the code") if used else (False, unused)
    if kind == "denoising":
        noise = p.get("noise")
        plan["masking_noise"] = ((True, "the corruption of every training batch") if noise == "masking"
                                 else (False, f"noise={noise!r}"))
        plan["gaussian_noise"] = ((True, "the corruption of every training batch (when it clips to [0, 1]: "
                                         "loss='bce', or data spanning [0, 1])") if noise == "gaussian"
                                  else (False, f"noise={noise!r}"))
    if kind == "contractive":
        weight = float(p.get("contractive_weight") or 0) > 0
        one = (not deep and weight, "the penalty of the one-layer encoder" if not deep and weight
               else "a deep encoder (hidden_sizes non-empty) or a zero weight uses npae's recurrence")
        plan["contractive_penalty"] = one
        plan["contractive_penalty_grad"] = (one[0], one[1].replace("penalty of", "penalty's gradient for"))
        plan["contractive_jacobian"] = (True, "jacobian(), and the penalty's value for a deep encoder" if deep
                                        else "jacobian()")
    if kind == "vae":
        plan["gaussian_kl"] = (True, "the KL term of every row")
        plan["gaussian_kl_grad"] = (True, "the KL term's gradient")
        plan["reparameterize_backward"] = (True, "the backward pass of z = mu + σ·ε")
        plan["iwae_bound"] = (True, "log_likelihood() (fit does not use it)")
    return plan
