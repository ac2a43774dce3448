"""``npae gradcheck``: a tiny float64 model's gradients against central differences (a teaching tool)."""

from __future__ import annotations

import argparse

import numpy as np

from npae import backend as B
from npae.cli.options import (
    CLIError,
    add_backend_option,
    add_model_option,
    add_seed_option,
    check_positive,
    get_model_class,
    parse_hidden_sizes,
)
from npae.gradcheck import check_model
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
        help="check a model's hand-written gradients against central differences (a teaching tool)",
        description="Build a tiny float64 model on tiny random data and compare the gradient that\n"
                    "backprop computes for every parameter array with central differences,\n"
                    "    n_i = (L(θ + h e_i) − L(θ − h e_i)) / 2h,\n"
                    "printing the relative error ‖a − n‖ / (‖a‖ + ‖n‖) of each array\n"
                    "(npae.gradcheck.check_model). The randomness of the objective is fixed\n"
                    "(the VAE's eps, the denoiser's corrupted input), so the check is exact.\n"
                    "Exit status 0 when every array is below --tol, 1 when one is not.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae gradcheck --model contractive\n"
               "  npae gradcheck --model vae --hidden-sizes 8 4 --latent-dim 2\n"
               "  npae gradcheck --model ae --activation relu --seed 3\n"
               "Note: ReLU has kinks; a finite difference across one can fail a correct gradient.",
    )
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
    if not result.passed and args.activation in ("relu", "leaky_relu", "elu"):
        print("  (a kink of the activation between θ − h and θ + h can fail a correct gradient; try tanh)")
    return 0 if result.passed else 1
