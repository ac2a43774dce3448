"""``npae gradcheck``: hand-written gradients against central differences (a teaching tool).

Two forms:

* ``npae gradcheck --model NAME``: a tiny float64 npae model on tiny random data.
* ``npae gradcheck FILE.py:NAME``: the learner's own object from a Python file, which may be

  - a layer (``forward``, ``backward``, ``params``, ``grads``; an ``npae.layers.Layer`` subclass):
    ``npae.gradcheck.check_layer`` checks the input gradient and every parameter's, and that two
    backward calls add up (``+=``, the "×2" rows);
  - an activation (``f``, ``df``, ``d2f``): f′ against differences of f, f″ against differences of f′,
    or of f itself when f′ is wrong ("fix df first") (``check_activation``);
  - a loss (``value(x, out)`` per row and ``grad(x, out)``): ``check_loss``.

  A failed array is diagnosed against the differences (``npae.gradcheck.diagnose``): the sign, a
  factor 2, a missing or extra 1/N, a transpose, a gradient per row where it sums over the batch.
  A shape error in the learner's code names the arrays whose axes met and, when the input's width
  is not what a parameter expects, suggests ``--features``.

  NAME may be a class (built with no arguments), an instance, or a function of no arguments that
  returns one. The input is the object's ``example_input()`` when it defines one (a layer: an array
  x; a loss: the pair (x, out); an activation: z); otherwise random rows, --n of them, as wide as
  the layer's ``in_features`` or --features.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np

from npae import backend as B
from npae import gradcheck as G
from npae.cli.options import (
    CLIError,
    one_line,
    add_backend_option,
    add_model_option,
    add_seed_option,
    check_positive,
    get_model_class,
    parse_hidden_sizes,
)
from npae.gradcheck import check_model
from npae.layers import Layer
from npae.noise import corrupt

__all__ = ["add_parser", "run"]

#: Hyperparameters that give each model's penalty or noise a part in the checked objective.
_MODEL_EXTRAS = {
    "sparse": {"sparsity": "kl", "latent_activation": "sigmoid", "sparsity_weight": 0.5, "target_sparsity": 0.2},
    "denoising": {"noise": "masking", "noise_level": 0.3},
    "contractive": {"contractive_weight": 0.1},
}


def add_parser(subparsers) -> None:
    """Add ``gradcheck`` and its options to the ``npae`` subcommands."""
    p = subparsers.add_parser(
        "gradcheck",
        help="check hand-written gradients (an npae model, or your own layer, activation or loss) "
             "against central differences (a teaching tool)",
        description="Build a tiny float64 model on tiny random data and compare the gradient that\n"
                    "backprop computes for every parameter array with central differences,\n"
                    "    n_i = (L(θ + h e_i) − L(θ − h e_i)) / 2h,\n"
                    "printing the relative error ‖a − n‖ / (‖a‖ + ‖n‖) of each array\n"
                    "(npae.gradcheck.check_model). The randomness of the objective is fixed\n"
                    "(the VAE's eps, the denoiser's corrupted input), so the check is exact.\n"
                    "Exit status 0 when every array is below --tol, 1 when one is not.\n\n"
                    "With FILE.py:NAME, check your own object instead: a layer (forward, backward,\n"
                    "params, grads, zero_grad; a subclass of npae.layers.Layer has it), an activation (f, df, d2f: f′ and f″ are checked) or a loss\n"
                    "(value(x, out) per row, grad(x, out)). NAME is a class built with no arguments,\n"
                    "an instance, or a function of no arguments returning one; its example_input(),\n"
                    "if defined, gives the input (a layer: x; a loss: (x, out); an activation: z),\n"
                    "else --n random rows as wide as the layer's in_features or --features.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae gradcheck --model contractive\n"
               "  npae gradcheck --model vae --hidden-sizes 8 4 --latent-dim 2\n"
               "  npae gradcheck --model ae --activation relu --seed 3\n"
               "  npae gradcheck my_layers.py:Swish\n"
               "Note: ReLU has kinks; a finite difference across one can fail a correct gradient.",
    )
    p.add_argument("target", nargs="?", default=None, metavar="FILE.py:NAME",
                   help="check your own layer, activation or loss, NAME in the Python file FILE.py, "
                        "instead of an npae model")
    add_model_option(p, "ae, sparse (KL sparsity on a sigmoid code), denoising (masking noise, a fixed "
                        "draw), contractive or vae (a fixed eps) (default: ae)")
    p.add_argument("--n", type=int, default=6, metavar="N", help="rows of random data (default: 6)")
    p.add_argument("--features", type=int, default=7, metavar="D",
                   help="columns of random data, drawn uniformly in [0.05, 0.95] (default: 7)")
    p.add_argument("--hidden-sizes", nargs="*", default=["5"], metavar="H",
                   help="encoder hidden widths; none for no hidden layer (default: 5)")
    p.add_argument("--latent-dim", type=int, default=3, metavar="K", help="code width (default: 3)")
    p.add_argument("--activation", default="tanh", metavar="NAME",
                   help="hidden activation; smooth ones (tanh, sigmoid, softplus) check exactly "
                        "(default: tanh)")
    p.add_argument("--loss", default="bce", metavar="{bce,mse}",
                   help="reconstruction loss (bce or mse; the vae uses its Bernoulli likelihood) "
                        "(default: bce)")
    p.add_argument("--h", type=float, default=1e-6, metavar="H",
                   help="finite-difference step (default: 1e-06)")
    p.add_argument("--tol", type=float, default=1e-6, metavar="TOL",
                   help="largest relative error that passes (default: 1e-06)")
    add_seed_option(p, "seeds the weights, the data and the fixed noise (default: 0)")
    add_backend_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    """``npae gradcheck``: see ``npae gradcheck --help``."""
    check_positive(args.n, "--n")
    check_positive(args.features, "--features")
    check_positive(args.latent_dim, "--latent-dim")
    if not (args.h > 0 and args.tol > 0):
        raise CLIError(f"--h and --tol must be positive; got --h {args.h:g}, --tol {args.tol:g}.")
    if args.target is not None:
        return run_target(args)
    hidden = parse_hidden_sizes(args.hidden_sizes)
    backend = B.get_backend(args.backend)
    cls = get_model_class(args.model)
    kwargs = {"hidden_sizes": hidden, "latent_dim": args.latent_dim, "activation": args.activation,
              "dtype": "float64", "random_state": args.seed, "backend": backend.name, "verbose": 0}
    if args.model != "vae":
        kwargs["loss"] = args.loss
    model = cls(**kwargs, **_MODEL_EXTRAS.get(args.model, {}))
    model._check_hyperparameters()
    rng = np.random.default_rng(args.seed)
    X = rng.uniform(0.05, 0.95, size=(args.n, args.features))
    X_dev = B.asarray(X, dtype="float64", backend=backend.name)
    loss_kwargs, note = {}, ""
    if args.model == "vae":
        loss_kwargs["eps"] = B.asarray(rng.standard_normal((args.n, args.latent_dim)), dtype="float64",
                                       backend=backend.name)
        note = "eps fixed: one standard-normal draw per row and latent unit"
    elif args.model == "denoising":
        loss_kwargs["target"] = X_dev
        X_dev = corrupt(X_dev, args.seed + 1, noise="masking", noise_level=0.3)
        note = "input masked (30 % of entries set to 0, one fixed draw), target the clean data"
    model.loss_and_grad(X_dev, **loss_kwargs)  # builds the parameters, to show their shapes
    result = check_model(model, X_dev, h=args.h, tol=args.tol, **loss_kwargs)

    sizes = [args.features, *hidden, args.latent_dim]
    arch = "-".join(map(str, sizes + sizes[-2::-1]))
    objective = ("negative BCE-ELBO" if args.model == "vae" else
                 {"sparse": f"{args.loss.upper()} + KL sparsity penalty",
                  "contractive": f"{args.loss.upper()} + contractive penalty"}.get(args.model, args.loss.upper()))
    print(f"npae gradcheck: {cls.__name__} {arch} ({args.activation}), objective {objective}, float64, "
          f"{backend.name} backend, N={args.n} random rows in [0.05, 0.95], seed {args.seed}")
    if note:
        print(f"  {note}")
    print(f"  central differences with h={args.h:g}; relative error ‖a − n‖ / (‖a‖ + ‖n‖) must be "
          f"< {args.tol:g}\n")
    width = max(len(k) for k in result.errors)
    shapes = {k: tuple(v.shape) for k, v in model.parameters().items()}
    print(f"  {'parameter':<{width}}  {'shape':>10}  relative error")
    for name, err in result.errors.items():
        shape = "x".join(map(str, shapes.get(name, ()))) or "?"
        print(f"  {name:<{width}}  {shape:>10}  {err:.2e}  {'ok' if err < args.tol else 'FAIL'}")
    worst = max(result.errors, key=result.errors.get)
    verdict = "passed" if result.passed else "FAILED"
    print(f"\n  {verdict}: worst {result.errors[worst]:.2e} ({worst}), tolerance {args.tol:g}")
    _print_diagnoses(result)
    if not result.passed and args.activation in ("relu", "leaky_relu", "elu"):
        print("  (a kink of the activation between θ − h and θ + h can fail a correct gradient; try tanh)")
    return 0 if result.passed else 1


# ---------------------------------------------------------------------- FILE.py:NAME
def load_target(target: str):
    """(the object NAME of FILE.py, its name, the file): a class is built, a factory called."""
    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text or not name:
        raise CLIError(f"Expected FILE.py:NAME (e.g. my_layers.py:Swish); got {target!r}.")
    path = Path(path_text)
    if not path.is_file():
        raise CLIError(f"No such file: {path_text} (from {target!r}).")
    spec = importlib.util.spec_from_file_location(f"_npae_gradcheck_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the learner's file may raise anything while it runs
        raise CLIError(f"{path_text} raised {type(err).__name__} while being run: {one_line(err)}") from err
    finally:
        sys.path.remove(str(path.resolve().parent))
    if not hasattr(module, name):
        defined = sorted(k for k, v in vars(module).items() if not k.startswith("_") and callable(v)
                         and getattr(v, "__module__", None) == module.__name__)
        listing = f"; it defines {', '.join(defined)}" if defined else ""
        raise CLIError(f"{path_text} has no {name!r}{listing}.")
    obj = getattr(module, name)
    if inspect.isclass(obj) or (inspect.isfunction(obj) and not _kind(obj)):
        try:
            obj = obj()
        except Exception as err:
            raise CLIError(f"{name}() with no arguments failed ({type(err).__name__}: {one_line(err)}); give its "
                           "arguments defaults, or point at a function of no arguments that returns one.") from err
    if not _kind(obj):
        raise CLIError(f"{name} is a {type(obj).__name__}, not something npae gradcheck can check: expected a layer "
                       "(forward, backward, params, grads, zero_grad; subclass npae.layers.Layer to inherit zero_grad), an "
                       "activation (f, df, d2f) or a loss (value, grad).")
    return obj, name, path_text


def _kind(obj) -> str:
    """"layer", "activation", "loss" or "" by what ``obj`` can do (a Layer subclass is a layer)."""
    if isinstance(obj, Layer) or all(hasattr(obj, a) for a in ("forward", "backward", "params", "grads", "zero_grad")):
        return "layer"
    if all(callable(getattr(obj, a, None)) for a in ("f", "df", "d2f")):
        return "activation"
    if all(callable(getattr(obj, a, None)) for a in ("value", "grad")):
        return "loss"
    return ""


def _on(backend, a):
    """``a`` (host, list or any backend's array) as float64 on ``backend``."""
    return B.asarray(np.asarray(B.to_numpy(a), dtype="float64"), dtype="float64", backend=backend.name)


def _learner(name: str, action, arrays=None):
    """Run the learner's code; anything it raises becomes one line, a shape error with its likely cause.

    ``arrays`` (name -> array: the input and the parameters) lets a shape error name the arrays whose
    axes met and, when the input's width is not what a parameter expects, suggest ``--features``.
    """
    try:
        return action()
    except CLIError:
        raise
    except Exception as err:  # the learner's code may raise anything
        raise CLIError(f"{name} raised {type(err).__name__} during the check: {one_line(err)}"
                       + _shape_advice(err, arrays)) from err


def _shape_advice(err, arrays) -> str:
    """" → the likely cause …" for a shape error in the learner's code, naming arrays and the input width."""
    if not arrays or not isinstance(err, (ValueError, RuntimeError, TypeError, IndexError)):
        return ""
    from npae.exercises.errors import explain_error

    host = {k: B.to_numpy(v) for k, v in arrays.items() if hasattr(v, "shape")}
    shapes = ", ".join(f"{k} {_shape(v)}" for k, v in host.items())
    x = host.get("input")
    if x is not None and x.ndim == 2:
        width = x.shape[1]
        expects = [(k, v.shape[0]) for k, v in host.items() if k != "input" and v.ndim == 2 and v.shape[0] != width]
        if expects:  # the input's width, not the learner's code, is the likely cause
            k, d = expects[0]
            return (f" → the input x has width {width} (--features), but parameter {k} has shape {_shape(host[k])}: "
                    f"try --features {d}, or give the layer an in_features attribute or an example_input(). "
                    f"Shapes: {shapes}.")
    mistake, message = explain_error(err, host)
    if mistake in ("transposed", "broadcast", "missing_axis", "elementwise_for_matmul"):
        return f" → {message} Shapes: {shapes}."
    text = f" Shapes: {shapes}." if host else ""
    return text


def run_target(args) -> int:
    """``npae gradcheck FILE.py:NAME``: check the learner's layer, activation or loss."""
    obj, name, path = load_target(args.target)
    kind = _kind(obj)
    backend = B.get_backend(args.backend)
    rng = np.random.default_rng(args.seed)
    example = getattr(obj, "example_input", None)
    given = _learner(name, example) if callable(example) else None
    if kind == "activation":
        z = rng.standard_normal((args.n, args.features)) * 2.0
        z = np.where(np.abs(z) < 1e-2, np.copysign(1e-2, z) + z, z)  # off the kinks (ReLU at 0)
        z = _on(backend, z if given is None else given)
        how = (f"f′ against differences of f, f″ against differences of f′ (of f itself when f′ is wrong), at z of "
               f"shape {_shape(z)}")
        result = _learner(name, lambda: G.check_activation(obj, z, h=args.h, tol=args.tol))
        shapes = {"df": _shape(z), "d2f": _shape(z)}
    elif kind == "loss":
        if given is None:
            x, out = rng.uniform(0.05, 0.95, (args.n, args.features)), rng.standard_normal((args.n, args.features))
        else:
            x, out = given
        x, out = _on(backend, x), _on(backend, out)
        how = f"grad(x, out) against differences of Σ_n w_n·value(x, out)_n, random w, x and out of shape {_shape(out)}"
        result = _learner(name, lambda: G.check_loss(obj, x, out, h=args.h, tol=args.tol, random_state=args.seed),
                          arrays={"x": x, "out": out})
        shapes = {"output": _shape(out)}
    else:
        if obj.params:  # float64 on the chosen backend, whatever the layer was built with

            def to_float64():
                obj.params = {k: _on(backend, v) for k, v in obj.params.items()}
                obj.zero_grad()

            _learner(name, to_float64)
        width = getattr(obj, "in_features", args.features)
        x = _on(backend, rng.standard_normal((args.n, width)) if given is None else given)
        how = (f"input x of shape {_shape(x)}, the scalar Σ G·forward(x) with a random G; backward is called twice "
               "to check that parameter gradients accumulate (×2 rows)")
        result = _learner(name, lambda: G.check_layer(obj, x, h=args.h, tol=args.tol, random_state=args.seed),
                          arrays={"input": x, **obj.params})
        shapes = {"input": _shape(x), **{k: _shape(v) for k, v in obj.params.items()}}
        shapes.update({f"{k} ×2": v for k, v in list(shapes.items())})
    article = "an" if kind == "activation" else "a"
    print(f"npae gradcheck: {name} from {path} ({article} {kind}), float64, {backend.name} backend, seed {args.seed}")
    print(f"  {how}")
    print(f"  central differences with h={args.h:g}; relative error ‖a − n‖ / (‖a‖ + ‖n‖) must be < {args.tol:g}\n")
    width = max(5, *(len(k) for k in result.errors), *(len(k) + 3 for k in result.accumulates))
    print(f"  {'array':<{width}}  {'shape':>10}  relative error")
    for key, err in result.errors.items():
        print(f"  {key:<{width}}  {shapes.get(key, '?'):>10}  {err:.2e}  {'ok' if err < args.tol else 'FAIL'}")
    for key, err in result.accumulates.items():
        key = f"{key} ×2"
        print(f"  {key:<{width}}  {shapes.get(key, '?'):>10}  {err:.2e}  {'ok' if err < args.tol else 'FAIL'}")
    everything = {**result.errors, **{f"{k} ×2": v for k, v in result.accumulates.items()}}
    worst = max(everything, key=everything.get)
    verdict = "passed" if result.passed else "FAILED"
    print(f"\n  {verdict}: worst {everything[worst]:.2e} ({worst}), tolerance {args.tol:g}")
    _print_diagnoses(result)
    return 0 if result.passed else 1


def _print_diagnoses(result) -> None:
    """What the numbers of each failed array point to (npae.gradcheck.diagnose), one line each."""
    for key, found in result.diagnoses.items():
        for mistake, message in found:
            print(f"  {key}: {message} [{mistake}]")


def _shape(a) -> str:
    return "x".join(map(str, tuple(a.shape))) or "scalar"
