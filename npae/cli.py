"""The ``npae`` command line: ``npae train`` and ``npae info`` (also ``python -m npae``).

``npae train`` with no options trains the default autoencoder (784-256-32-256-784, ReLU, BCE on
logits, Adam) on the Fashion-MNIST subset shipped inside the package, shows a progress bar,
prints a short report and writes ``model.npz``, ``metrics.json``, ``loss.png`` and
``reconstructions.png`` to a run directory.

Errors a user can cause (a bad option value, a missing file, an unusable backend) are printed as
one line on stderr, ``npae: error: ...``, with exit status 2, never as a traceback. Set
``NPAE_DEBUG=1`` to get the traceback instead.

This module is host code: it reads files and hands NumPy arrays to the models, which move them to
their backend. Models, datasets and plotting are imported when a command needs them, so
``npae --help`` and ``npae info`` start quickly.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from npae import backend as B
from npae._version import __version__

__all__ = ["DATASETS", "MODELS", "build_parser", "get_model_class", "load_training_data", "main"]

#: --model name -> (module, class). Imported lazily: a model whose module is not there gives a
#: clear error only when asked for.
MODELS = {
    "ae": ("npae.models.autoencoder", "Autoencoder"),
    "sparse": ("npae.models.sparse", "SparseAutoencoder"),
    "denoising": ("npae.models.denoising", "DenoisingAutoencoder"),
    "contractive": ("npae.models.contractive", "ContractiveAutoencoder"),
    "vae": ("npae.models.variational", "VAE"),
}

#: Named datasets for --dataset (anything else must be a path to an .npz file).
DATASETS = ("embedded", "fashion-mnist", "mnist", "digits")

#: The digits set has no official split: a stratified, fixed-seed hold-out of this many images.
DIGITS_TEST_SIZE = 360

#: Defaults of the options shared by all models (None in argparse, so that an option given
#: explicitly can be told from a default: a default is passed only to a model that takes it).
DEFAULTS = {
    "epochs": 10,
    "hidden_sizes": (256,),
    "latent_dim": 32,
    "activation": "relu",
    "loss": "bce",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 128,
    "dtype": "float32",
}

#: (argparse dest, constructor parameter) for options passed to the model when it takes them.
COMMON_PARAMS = (
    ("hidden_sizes", "hidden_sizes"),
    ("latent_dim", "latent_dim"),
    ("activation", "activation"),
    ("latent_activation", "latent_activation"),
    ("loss", "loss"),
    ("optimizer", "optimizer"),
    ("learning_rate", "learning_rate"),
    ("batch_size", "batch_size"),
    ("epochs", "epochs"),
    ("dtype", "dtype"),
)
MODEL_PARAMS = (
    ("sparsity", "sparsity"),
    ("sparsity_weight", "sparsity_weight"),
    ("target_sparsity", "target_sparsity"),
    ("noise", "noise"),
    ("noise_level", "noise_level"),
    ("contractive_weight", "contractive_weight"),
    ("beta", "beta"),
    ("likelihood", "likelihood"),
    ("sigma", "sigma"),
    ("kl_warmup_epochs", "kl_warmup_epochs"),
)
RUN_FILES = ("model.npz", "metrics.json", "loss.png", "reconstructions.png")


class CLIError(ValueError):
    """A user error found by the command line itself (printed as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``npae train: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------------------------ parser
def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The ``npae`` argument parser with its subcommands."""
    parser = _Parser(
        prog="npae",
        description="Autoencoders written from scratch (hand-written layers and backprop) on NumPy, "
                    "CuPy, PyTorch tensors or any Array API library.",
        epilog="Run 'npae COMMAND --help' for the options of a command. Errors are one line on "
               "stderr with exit status 2; set NPAE_DEBUG=1 for a traceback.",
    )
    parser.add_argument("--version", action="version", version=f"npae {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                     help="one of the commands below; each has its own --help")
    commands.required = True
    _add_train(commands)
    _add_info(commands)
    return parser


def _add_train(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a model, print a report, write model, metrics and figures to a run directory",
        description="Train an autoencoder and write model.npz, metrics.json, loss.png and\n"
                    "reconstructions.png to a run directory. With no options: the default\n"
                    "autoencoder (784-256-32-256-784, ReLU, BCE, Adam) on the Fashion-MNIST\n"
                    "subset shipped with npae.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae train\n"
               "  npae train --dataset digits --epochs 20 --hidden-sizes 64 --latent-dim 8\n"
               "  npae train --model sparse --latent-activation sigmoid --sparsity kl --sparsity-weight 0.5\n"
               "  npae train --model vae --latent-dim 2 --beta 1.0 --backend cupy\n"
               "  npae train --dataset mydata.npz --loss mse --out runs/mine --force",
    )
    data = p.add_argument_group("model and data")
    data.add_argument("--model", default="ae", choices=tuple(MODELS), metavar="{" + ",".join(MODELS) + "}",
                      help="which autoencoder: ae (plain), sparse, denoising, contractive, vae "
                           "(default: ae)")
    data.add_argument("--dataset", default="embedded", metavar="NAME|FILE.npz",
                      help="embedded (5,000 + 1,000 Fashion-MNIST images shipped with npae), "
                           "fashion-mnist, mnist (full sets; see --data-dir, --download), digits "
                           f"(scikit-learn's 8x8 digits, {DIGITS_TEST_SIZE} held out for test with "
                           "a fixed seed), or a .npz file with arrays X_train (N, D) and optionally "
                           "X_test, y_train, y_test (default: embedded)")
    data.add_argument("--data-dir", default=None, metavar="DIR",
                      help="directory holding the MNIST / Fashion-MNIST IDX files (searched before "
                           "$NPAE_DATA, the user cache and /usr/share/datasets)")
    data.add_argument("--download", action="store_true",
                      help="download MNIST / Fashion-MNIST into the user cache if they are not found "
                           "(checked by SHA-256)")

    arch = p.add_argument_group("architecture and training")
    arch.add_argument("--epochs", type=int, default=None, metavar="N",
                      help=f"passes over the training set (default: {DEFAULTS['epochs']})")
    arch.add_argument("--hidden-sizes", nargs="*", default=None, metavar="H",
                      help="encoder hidden widths, e.g. '512 128' or 512,128; the decoder mirrors "
                           "them; give none for no hidden layer (default: 256)")
    arch.add_argument("--latent-dim", type=int, default=None, metavar="K",
                      help=f"code width K (default: {DEFAULTS['latent_dim']})")
    arch.add_argument("--activation", default=None, metavar="NAME",
                      help="hidden activation: relu, leaky_relu, elu, sigmoid, tanh, softplus, "
                           f"identity (default: {DEFAULTS['activation']})")
    arch.add_argument("--latent-activation", default=None, metavar="NAME",
                      help="activation of the code layer (default: the model's, identity for ae)")
    arch.add_argument("--loss", default=None, metavar="NAME",
                      help="reconstruction loss summed over features: bce (on logits; data in "
                           f"[0, 1]) or mse (default: {DEFAULTS['loss']}; the vae uses --likelihood)")
    arch.add_argument("--optimizer", default=None, metavar="NAME",
                      help=f"adam, adamw, sgd, momentum, nesterov (default: {DEFAULTS['optimizer']})")
    arch.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                      help=f"step size (default: {DEFAULTS['learning_rate']:g})")
    arch.add_argument("--batch-size", type=int, default=None, metavar="N",
                      help=f"minibatch rows (default: {DEFAULTS['batch_size']})")
    arch.add_argument("--dtype", default=None, choices=("float32", "float64"),
                      help=f"parameter and data dtype (default: {DEFAULTS['dtype']})")
    arch.add_argument("--backend", default=None, metavar="NAME",
                      help="numpy, cupy, torch or array_api_strict (default: $NPAE_BACKEND, else numpy)")
    arch.add_argument("--seed", type=int, default=0,
                      help="seeds the initial weights, minibatch order and noise (default: 0)")

    extra = p.add_argument_group(
        "model-specific options",
        "Given to the model that takes them; an option the chosen --model does not take is an error.")
    extra.add_argument("--sparsity", default=None, metavar="{l1,kl}",
                       help="sparse: L1 penalty on the code, or KL to a target mean activation "
                            "(kl needs --latent-activation sigmoid)")
    extra.add_argument("--sparsity-weight", type=float, default=None, metavar="W",
                       help="sparse: weight of the sparsity penalty")
    extra.add_argument("--target-sparsity", type=float, default=None, metavar="RHO",
                       help="sparse: target mean activation ρ in (0, 1) for --sparsity kl")
    extra.add_argument("--noise", default=None, metavar="{gaussian,masking,salt_pepper}",
                       help="denoising: corruption applied to each training batch")
    extra.add_argument("--noise-level", type=float, default=None, metavar="P",
                       help="denoising: standard deviation (gaussian) or fraction of pixels "
                            "(masking, salt_pepper)")
    extra.add_argument("--contractive-weight", type=float, default=None, metavar="LAMBDA",
                       help="contractive: weight λ of the Jacobian penalty λ·mean_n ‖∂h/∂x‖²_F")
    extra.add_argument("--beta", type=float, default=None, metavar="BETA",
                       help="vae: weight β of the KL term (1 gives the ELBO)")
    extra.add_argument("--likelihood", default=None, metavar="{bernoulli,gaussian}",
                       help="vae: decoder likelihood, Bernoulli on logits (data in [0, 1]) or "
                            "Gaussian with fixed --sigma")
    extra.add_argument("--sigma", type=float, default=None, metavar="SIGMA",
                       help="vae: standard deviation of the Gaussian likelihood")
    extra.add_argument("--kl-warmup-epochs", type=int, default=None, metavar="N",
                       help="vae: anneal β linearly from 0 over the first N epochs")

    out = p.add_argument_group("output")
    out.add_argument("--out", default=None, metavar="DIR",
                     help="run directory, created if needed (default: runs/<model>-<dataset>-<time>)")
    out.add_argument("--force", action="store_true",
                     help="write into --out even if it exists and is not empty (its run files are "
                          "replaced)")
    out.add_argument("--quiet", action="store_true",
                     help="no progress bar and no report; print only the run directory")
    p.set_defaults(handler=cmd_train)


def _add_info(commands) -> None:
    p = commands.add_parser(
        "info",
        help="show the npae version, the backends usable here and their devices, and the models",
        description="Show the npae version, library versions, which array backends are usable on "
                    "this machine (and why not, for the others) with their devices, and the models "
                    "available to 'npae train --model'.",
    )
    p.set_defaults(handler=cmd_info)


# ------------------------------------------------------------------------------ models
def get_model_class(name: str):
    """The estimator class for a ``--model`` name, imported now.

    Raises
    ------
    ValueError
        For a name not in :data:`MODELS` (the message lists them).
    ImportError
        When the model's module is not part of this installation.
    """
    if name not in MODELS:
        raise ValueError(_unknown("model", name, tuple(MODELS)))
    module_name, class_name = MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        usable = [m for m, (mod, _) in MODELS.items() if importlib.util.find_spec(mod) is not None]
        raise ImportError(
            f"--model {name} needs {module_name}, which this npae installation does not have; "
            f"models available here: {', '.join(usable)}."
        ) from err
    try:
        return getattr(module, class_name)
    except AttributeError as err:
        raise ImportError(f"{module_name} has no class {class_name}; --model {name} cannot be built.") from err


def _model_kwargs(cls, model_name: str, args) -> dict:
    """Constructor arguments from the options: explicit ones must be taken by ``cls``."""
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {}
    for dest, param in COMMON_PARAMS + MODEL_PARAMS:
        value = getattr(args, dest)
        explicit = value is not None
        if not explicit:
            value = DEFAULTS.get(dest)
            if value is None:
                continue
        if param in accepted:
            kwargs[param] = value
        elif explicit:
            users = [m for m in MODELS if _takes(m, param)]
            hint = f" It is used by --model {' / '.join(users)}." if users else ""
            raise CLIError(f"{_flag(dest)} does not apply to --model {model_name} "
                           f"({cls.__name__} has no {param!r} parameter).{hint}")
    for param, value in (("random_state", args.seed), ("backend", args.backend_name),
                         ("verbose", 0 if args.quiet else 1)):
        if param in accepted:
            kwargs[param] = value
    return kwargs


def _takes(model_name: str, param: str) -> bool:
    """True if the model's class is importable and its constructor has ``param``."""
    try:
        cls = get_model_class(model_name)
    except ImportError:
        return False
    return param in inspect.signature(cls.__init__).parameters


def _parse_hidden_sizes(values) -> tuple[int, ...] | None:
    if values is None:
        return None
    sizes = []
    for value in values:
        for part in str(value).replace(",", " ").split():
            try:
                size = int(part)
            except ValueError:
                raise CLIError(f"--hidden-sizes takes positive integers, e.g. '512 128'; got {part!r}.") from None
            if size <= 0:
                raise CLIError(f"--hidden-sizes takes positive integers, e.g. '512 128'; got {size}.")
            sizes.append(size)
    return tuple(sizes)


# ------------------------------------------------------------------------------ data
def load_training_data(dataset: str, *, data_dir=None, download: bool = False):
    """Load ``(X_train, y_train, X_test, y_test, info)`` for a ``--dataset`` value.

    ``X_*`` are host float arrays (N, D); ``y_*`` int arrays (N,) or None; ``X_test`` is None for
    an .npz file without one. ``info`` is a dict: ``name`` (for run directories), ``title`` (for
    the report), ``image_shape`` ((h, w) or None).

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones), an .npz file without ``X_train``, or arrays
        of the wrong shape.
    FileNotFoundError
        For a missing file (the dataset loaders say where they looked and how to get the files).
    """
    from npae import datasets

    key = dataset.strip().lower().replace("_", "-")
    if key in DATASETS:
        info = {"name": key, "image_shape": None}
        if key == "digits":
            from sklearn.model_selection import train_test_split

            X, y = datasets.load_digits()
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=0)
            info["title"] = f"digits (scikit-learn 8x8, stratified hold-out of {DIGITS_TEST_SIZE})"
            return X_train, y_train, X_test, y_test, info
        kwargs = {} if key == "embedded" else {"data_dir": data_dir, "download": download}
        X_train, y_train = datasets.load_dataset(key, "train", **kwargs)
        X_test, y_test = datasets.load_dataset(key, "test", **kwargs)
        info["title"] = {"embedded": "embedded (Fashion-MNIST subset shipped with npae)",
                         "fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}[key]
        return X_train, y_train, X_test, y_test, info
    path = Path(dataset).expanduser()
    if path.suffix.lower() != ".npz" and not path.is_file():
        close = difflib.get_close_matches(key, DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"Unknown dataset {dataset!r}; expected one of {', '.join(map(repr, DATASETS))} "
                       f"or a path to an .npz file with X_train (and optionally X_test, y_train, y_test).{hint}")
    return _load_npz(path)


def _load_npz(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"Dataset file {str(path)!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise CLIError(f"{str(path)!r} holds a single array, not an .npz archive; save the data "
                               "with numpy.savez(path, X_train=..., X_test=...).")
            arrays = {name: data[name] for name in data.files}
    except CLIError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise CLIError(f"Could not read {str(path)!r} as an .npz archive without pickles: {err}") from err
    if "X_train" not in arrays:
        raise CLIError(f"{str(path)!r} has no 'X_train' array (it has: {', '.join(sorted(arrays)) or 'nothing'}); "
                       "a dataset file needs X_train (N, D) and optionally X_test, y_train, y_test.")
    image_shape = None
    out = {}
    for split in ("train", "test"):
        X = arrays.get(f"X_{split}")
        y = arrays.get(f"y_{split}")
        if X is not None:
            if X.ndim == 3:  # a stack of (h, w) images: flatten rows, keep the shape for figures
                image_shape = tuple(int(s) for s in X.shape[1:])
                X = X.reshape(X.shape[0], -1)
            if X.ndim != 2:
                raise CLIError(f"X_{split} in {str(path)!r} must be 2-D (N, D) or a stack of images "
                               f"(N, h, w); got shape {X.shape}.")
        if y is not None:
            if X is None:
                raise CLIError(f"{str(path)!r} has y_{split} but no X_{split}.")
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise CLIError(f"y_{split} in {str(path)!r} must have one label per row of X_{split}: "
                               f"expected shape ({X.shape[0]},), got {y.shape}.")
        out[split] = (X, y)
    (X_train, y_train), (X_test, y_test) = out["train"], out["test"]
    if X_test is not None and X_test.shape[1] != X_train.shape[1]:
        raise CLIError(f"X_test in {str(path)!r} has {X_test.shape[1]} features but X_train has "
                       f"{X_train.shape[1]}.")
    info = {"name": path.stem, "title": f"{path.name}", "image_shape": image_shape}
    return X_train, y_train, X_test, y_test, info


# ------------------------------------------------------------------------------ run directory
def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "data"


def _prepare_run_dir(out, model_name: str, dataset_name: str, force: bool) -> tuple[Path, bool]:
    """Create the run directory; refuse a non-empty existing one unless ``force``.

    Returns the directory and whether this call created it.
    """
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{model_name}-{_safe_name(dataset_name)}-{stamp}"
        run_dir, i = base, 1
        while run_dir.exists():  # two runs in the same second get -2, -3, ...
            i += 1
            run_dir = base.with_name(f"{base.name}-{i}")
    else:
        run_dir = Path(out).expanduser()
        if run_dir.exists() and not run_dir.is_dir():
            raise CLIError(f"--out {str(run_dir)!r} exists and is not a directory; choose another --out.")
        if run_dir.is_dir() and any(run_dir.iterdir()) and not force:
            raise CLIError(f"Run directory {str(run_dir)!r} exists and is not empty; choose another --out, "
                           "or pass --force to write into it (its run files are replaced).")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, created


# ------------------------------------------------------------------------------ train
def _architecture(model, n_features: int) -> str:
    hidden = tuple(getattr(model, "hidden_sizes", ()) or ())
    if isinstance(hidden, int):
        hidden = (hidden,)
    sizes = [n_features, *hidden, getattr(model, "latent_dim", "?")]
    return "-".join(map(str, sizes + sizes[-2::-1]))


def _objective_name(model) -> str:
    likelihood = getattr(model, "likelihood", None)
    if likelihood is not None:
        return "negative BCE-ELBO" if likelihood == "bernoulli" else "negative ELBO"
    name = str(getattr(model, "loss", "loss")).upper()
    if hasattr(model, "sparsity_weight"):
        return f"{name} + sparsity penalty"
    if hasattr(model, "contractive_weight"):
        return f"{name} + contractive penalty"
    return name


def _pick_examples(y, n_rows: int, n: int = 10) -> np.ndarray:
    """Indices of up to n rows: the first of each class when labels exist (then the next ones)."""
    n = min(n, n_rows)
    if y is None:
        return np.arange(n)
    y = np.asarray(y)
    first = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)][:n]
    taken = set(first)
    rest = [i for i in range(n_rows) if i not in taken][: n - len(first)]
    return np.array(sorted(first) + rest, dtype=np.int64)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return repr(value)


def cmd_train(args) -> int:
    """``npae train``: see ``npae train --help``."""
    args.hidden_sizes = _parse_hidden_sizes(args.hidden_sizes)
    backend = B.get_backend(args.backend)  # unknown or unusable backends fail here, before any work
    args.backend_name = backend.name
    cls = get_model_class(args.model)
    model = cls(**_model_kwargs(cls, args.model, args))
    if hasattr(model, "_check_hyperparameters"):
        model._check_hyperparameters()  # refuse bad values before loading data or training

    X_train, y_train, X_test, y_test, info = load_training_data(
        args.dataset, data_dir=args.data_dir, download=args.download)
    run_dir, created = _prepare_run_dir(args.out, args.model, info["name"], args.force)
    try:
        return _train_into(run_dir, args, cls, model, backend, (X_train, y_train, X_test, y_test), info)
    except BaseException:
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()  # leave no empty run directory behind a failed run
        raise


def _train_into(run_dir: Path, args, cls, model, backend, data, info) -> int:
    """Fit, evaluate, save and report into an existing run directory."""
    X_train, y_train, X_test, y_test = data
    n_features = X_train.shape[1]
    say = (lambda *a, **k: None) if args.quiet else print
    test_text = f"test {X_test.shape}" if X_test is not None else "no test set"
    say(f"npae train: {args.model} ({cls.__name__}) on {info['title']}: train {X_train.shape}, {test_text}; "
        f"{backend.name} backend ({backend.device}); writing to {run_dir}", flush=True)

    start = time.perf_counter()
    model.fit(X_train, validation_data=X_test)
    seconds = time.perf_counter() - start

    train_loss = -model.score(X_train)
    test_loss = -model.score(X_test) if X_test is not None else None
    model.save(run_dir / "model.npz")

    from npae import plotting

    fig = plotting.plot_loss_curves(model.history_)
    fig.savefig(run_dir / "loss.png", dpi=100)
    shown_X, shown_y, shown_split = (X_test, y_test, "test") if X_test is not None else (X_train, y_train, "train")
    picks = _pick_examples(shown_y, shown_X.shape[0])
    originals = np.asarray(shown_X)[picks]
    image_shape = info["image_shape"]
    if image_shape is None and math.isqrt(n_features) ** 2 != n_features:
        image_shape = (1, n_features)  # not images: heat-map strips
    fig = plotting.plot_reconstructions(originals, B.to_numpy(model.reconstruct(originals)),
                                        n=len(picks), image_shape=image_shape)
    if image_shape is not None and image_shape[0] == 1:
        fig.suptitle(f"{shown_split} rows (left) and their reconstructions (right)")
    else:
        fig.suptitle(f"{shown_split} images (top) and their reconstructions (bottom)")
    fig.savefig(run_dir / "reconstructions.png", dpi=100)

    epochs_run = len(model.history_.get("loss", []))
    unit = "pixel" if image_shape is None or image_shape[0] > 1 else "feature"
    objective = _objective_name(model)
    metrics = {
        "npae_version": __version__,
        "model": args.model,
        "model_class": cls.__name__,
        "params": _jsonable(model.get_params(deep=False)),
        "dataset": args.dataset,
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]) if X_test is not None else 0,
        "n_features": int(n_features),
        "backend": backend.name,
        "device": str(backend.device),
        "epochs": epochs_run,
        "seconds": round(seconds, 3),
        "samples_per_second": round(epochs_run * X_train.shape[0] / seconds, 1) if seconds > 0 else None,
        "objective": objective,
        "train_loss": float(train_loss),
        "test_loss": None if test_loss is None else float(test_loss),
        f"train_loss_per_{unit}": float(train_loss) / n_features,
        f"test_loss_per_{unit}": None if test_loss is None else float(test_loss) / n_features,
        "history": _jsonable(model.history_),
        "files": list(RUN_FILES),
    }
    with open(run_dir / "metrics.json", "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
        handle.write("\n")

    if args.quiet:
        print(run_dir)
        return 0
    rate = metrics["samples_per_second"]
    lines = [
        "",
        f"  dataset    {info['title']}",
        f"  shapes     train {X_train.shape}, {test_text}",
        f"  model      {cls.__name__} {_architecture(model, n_features)}, "
        + f"{getattr(model, 'activation', '')}, {objective}",
        f"  backend    {backend.name} ({backend.device}), {getattr(model, 'dtype', '')}",
        f"  training   {epochs_run} epoch{'' if epochs_run == 1 else 's'} in {seconds:.1f} s ({rate:,.0f} samples/s)",
        f"  train loss {train_loss:.4f} per sample ({train_loss / n_features:.5f} per {unit})",
    ]
    if test_loss is not None:
        lines.append(f"  test loss  {test_loss:.4f} per sample ({test_loss / n_features:.5f} per {unit})")
    lines.append(f"  wrote      {run_dir}{os.sep}{{{', '.join(RUN_FILES)}}}")
    print("\n".join(lines))
    return 0


# ------------------------------------------------------------------------------ info
def cmd_info(args) -> int:
    """``npae info``: versions, backends and devices, models."""
    import array_api_compat

    print(f"npae {__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, array-api-compat {array_api_compat.__version__}")
    print("backends:")
    for name, status in B.available_backends().items():
        if status == "ok":
            print(f"  {name:<17} ok, device {B.get_backend(name).device}")
        else:
            print(f"  {name:<17} unavailable: {' '.join(status.split())}")
    env = os.environ.get("NPAE_BACKEND")
    print(f"default backend: {env or 'numpy'} ({'from NPAE_BACKEND' if env else 'set NPAE_BACKEND to change'})")
    models = []
    for name, (module, cls) in MODELS.items():
        found = importlib.util.find_spec(module) is not None
        models.append(f"{name} ({cls})" if found else f"{name} (not installed)")
    print(f"models: {', '.join(models)}")
    return 0


# ------------------------------------------------------------------------------ entry point
def _unknown(kind: str, value, valid) -> str:
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown {kind} {value!r}; expected one of {', '.join(map(repr, valid))}.{hint}"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, KeyError):  # str(KeyError) is the quoted key alone
        text = f"missing key {text}"
    return text or type(err).__name__


def main(argv=None) -> int:
    """Run the ``npae`` command line; return the exit status (0, 2 on a user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors: argparse has printed them
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("npae: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, KeyError, OSError, ImportError, ArithmeticError,
            B.BackendUnavailableError) as err:
        if os.environ.get("NPAE_DEBUG"):
            raise
        print(f"npae: error: {_one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
