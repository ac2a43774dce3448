"""Options shared by the subcommands: the parser, option groups, and from options to a model.

Every option that more than one subcommand takes is added here, once: ``--model``, ``--backend``,
``--seed``, the dataset options, the "architecture and training" and "model-specific" groups of
``train`` and ``detect``, the saved-model options of ``evaluate`` and ``denoise``, and the output
group of the commands that write a directory. A subcommand passes only its own help text.

Options given to a model default to None in argparse, so that an option given explicitly can be
told from a default: a default (``DEFAULTS``) is passed only to a model that takes it, while an
explicit option the model does not take is an error (``model_kwargs``).
"""

from __future__ import annotations

import argparse
import difflib
import inspect

from npae.models import VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder

__all__ = [
    "COMMON_PARAMS",
    "DEFAULTS",
    "MODELS",
    "MODEL_PARAMS",
    "CLIError",
    "Parser",
    "Terminated",
    "add_architecture_options",
    "add_backend_option",
    "add_dataset_options",
    "add_download_option",
    "add_model_file_options",
    "add_model_option",
    "add_model_specific_options",
    "add_output_directory_options",
    "add_seed_option",
    "check_positive",
    "flag",
    "get_model_class",
    "model_kwargs",
    "one_line",
    "parse_hidden_sizes",
    "unknown",
]

#: --model name -> estimator class.
MODELS = {
    "ae": Autoencoder,
    "sparse": SparseAutoencoder,
    "denoising": DenoisingAutoencoder,
    "contractive": ContractiveAutoencoder,
    "vae": VAE,
}

#: Defaults of the options shared by all models (None in argparse, see the module docstring).
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

_BACKEND_HELP = "numpy, cupy, torch or array_api_strict (default: $NPAE_BACKEND, else numpy)"
_DATA_DIR_HELP = ("directory holding the MNIST / Fashion-MNIST IDX files (searched before "
                  "$NPAE_DATA, the user cache and /usr/share/datasets)")
_DOWNLOAD_HELP = "download MNIST / Fashion-MNIST into the user cache if they are not found"


class CLIError(ValueError):
    """A user error found by the command line itself (printed as one line, exit status 2)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, batch schedulers, ``docker stop``), raised by the handler ``npae.cli.main``
    installs: handled like Ctrl-C (the step in progress completes, the run is marked interrupted),
    exit status 143 (128 + 15)."""


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``npae train: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------------------------ messages
def flag(dest: str) -> str:
    """The option string of an argparse ``dest``: ``hidden_sizes`` -> ``--hidden-sizes``."""
    return "--" + dest.replace("_", "-")


def unknown(kind: str, value, valid) -> str:
    """``Unknown <kind> 'x'; expected one of ...`` with a close match suggested when there is one."""
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown {kind} {value!r}; expected one of {', '.join(map(repr, valid))}.{hint}"


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (what ``npae: error: ...`` prints)."""
    text = " ".join(str(err).split())
    if isinstance(err, KeyError):  # str(KeyError) is the quoted key alone
        text = f"missing key {text}"
    return text or type(err).__name__


# ------------------------------------------------------------------------------ values
def parse_hidden_sizes(values) -> tuple[int, ...] | None:
    """``--hidden-sizes`` words ('512 128' or 512,128) as a tuple of positive ints; None stays None."""
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


def check_positive(value: int, flag: str) -> int:
    """Refuse an integer option below 1, naming its ``flag``."""
    if value < 1:
        raise CLIError(f"{flag} must be a positive integer; got {value}.")
    return value


# ------------------------------------------------------------------------------ models
def get_model_class(name: str):
    """The estimator class for a ``--model`` name.

    Raises
    ------
    ValueError
        For a name not in ``MODELS`` (the message lists them).
    """
    if name not in MODELS:
        raise ValueError(unknown("model", name, tuple(MODELS)))
    return MODELS[name]


def _takes(cls, param: str) -> bool:
    return param in inspect.signature(cls.__init__).parameters


def model_kwargs(cls, model_name: str, args) -> dict:
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
            users = [name for name, other in MODELS.items() if _takes(other, param)]
            hint = f" It is used by --model {' / '.join(users)}." if users else ""
            raise CLIError(f"{flag(dest)} does not apply to --model {model_name} "
                           f"({cls.__name__} has no {param!r} parameter).{hint}")
    for param, value in (("random_state", args.seed), ("backend", args.backend_name),
                         ("verbose", 0 if args.quiet else 1)):
        if param in accepted:
            kwargs[param] = value
    return kwargs


# ------------------------------------------------------------------------------ single options
def add_model_option(group, help: str) -> None:
    """``--model {ae,sparse,denoising,contractive,vae}``, default ae."""
    group.add_argument("--model", default="ae", choices=tuple(MODELS), metavar="{" + ",".join(MODELS) + "}",
                       help=help)


def add_backend_option(group, help: str = _BACKEND_HELP) -> None:
    """``--backend NAME``, default None (the model's, else $NPAE_BACKEND, else numpy)."""
    group.add_argument("--backend", default=None, metavar="NAME", help=help)


def add_seed_option(group, help: str) -> None:
    """``--seed`` (int, default 0); ``help`` says what it seeds."""
    group.add_argument("--seed", type=int, default=0, help=help)


def add_dataset_options(group, *, default: str | None, help: str, data_dir_help: str = _DATA_DIR_HELP) -> None:
    """``--dataset NAME|FILE.npz`` and ``--data-dir DIR``."""
    group.add_argument("--dataset", default=default, metavar="NAME|FILE.npz", help=help)
    group.add_argument("--data-dir", default=None, metavar="DIR", help=data_dir_help)


def add_download_option(group, help: str = _DOWNLOAD_HELP) -> None:
    """``--download`` (a switch)."""
    group.add_argument("--download", action="store_true", help=help)


# ------------------------------------------------------------------------------ option groups
def add_architecture_options(p, loss_default: str = DEFAULTS["loss"]) -> None:
    """The "architecture and training" options shared by train and detect."""
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
                           f"[0, 1]) or mse (default: {loss_default}; the vae uses --likelihood)")
    arch.add_argument("--optimizer", default=None, metavar="NAME",
                      help=f"adam, adamw, sgd, momentum, nesterov (default: {DEFAULTS['optimizer']})")
    arch.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                      help=f"step size (default: {DEFAULTS['learning_rate']:g})")
    arch.add_argument("--batch-size", type=int, default=None, metavar="N",
                      help=f"minibatch rows (default: {DEFAULTS['batch_size']})")
    arch.add_argument("--dtype", default=None, choices=("float32", "float64"),
                      help=f"parameter and data dtype (default: {DEFAULTS['dtype']})")
    add_backend_option(arch)
    add_seed_option(arch, "seeds the initial weights, minibatch order and noise (default: 0)")


def add_model_specific_options(p) -> None:
    """Options given only to the model that takes them (train and detect)."""
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


def add_model_file_options(p, *, what: str) -> None:
    """MODEL.npz, --dataset, --data-dir, --download, --backend: shared by evaluate and denoise."""
    p.add_argument("model_path", metavar="MODEL.npz",
                   help="a model saved by 'npae train' (RUN/model.npz), or its run directory")
    data = p.add_argument_group("data")
    add_dataset_options(data, default=None,
                        help=f"the data {what}, as for 'npae train --dataset'; its test split is used "
                             "(the training split for an .npz file without X_test) (default: the dataset "
                             "recorded in metrics.json beside the model, else embedded)")
    add_download_option(data)
    add_backend_option(data, "numpy, cupy, torch or array_api_strict to run the model on (default: the "
                             "one it was saved with, else $NPAE_BACKEND, else numpy)")


def add_output_directory_options(p, out_help: str, *, quiet: str | None = None) -> None:
    """The "output" group of a command that writes a directory: --out DIR, --force, and --quiet."""
    out = p.add_argument_group("output")
    out.add_argument("--out", default=None, metavar="DIR", help=out_help)
    out.add_argument("--force", action="store_true",
                     help="write into --out even if it exists and is not empty (its files are replaced)")
    if quiet is not None:
        out.add_argument("--quiet", action="store_true", help=quiet)
