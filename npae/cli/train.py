"""``npae train``: fit a model, print a report, write model, metrics and figures to a run directory."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from npae import backend as B
from npae import plotting
from npae._version import __version__
from npae.cli.data import DIGITS_TEST_SIZE, dataset_record, load_training_data, pick_examples
from npae.cli.options import (
    Terminated,
    add_architecture_options,
    add_dataset_options,
    add_download_option,
    add_model_option,
    add_model_specific_options,
    add_output_directory_options,
    get_model_class,
    model_kwargs,
    parse_hidden_sizes,
)
from npae.cli.output import RunDirectory, architecture, jsonable, objective_name, run_directory

__all__ = ["RUN_FILES", "add_parser", "run"]

#: What a training run writes into its run directory.
RUN_FILES = ("model.npz", "metrics.json", "loss.png", "reconstructions.png")


def add_parser(subparsers) -> None:
    """Add ``train`` and its options to the ``npae`` subcommands."""
    p = subparsers.add_parser(
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
    add_model_option(data, "which autoencoder: ae (plain), sparse, denoising, contractive, vae (default: ae)")
    add_dataset_options(data, default="embedded",
                        help="embedded (5,000 + 1,000 Fashion-MNIST images shipped with npae), "
                             "fashion-mnist, mnist (full sets; see --data-dir, --download), digits "
                             f"(scikit-learn's 8x8 digits, {DIGITS_TEST_SIZE} held out for test with "
                             "a fixed seed), or a .npz file with arrays X_train (N, D) and optionally "
                             "X_test, y_train, y_test (default: embedded)")
    add_download_option(data, "download MNIST / Fashion-MNIST into the user cache if they are not found "
                              "(checked by SHA-256)")
    add_architecture_options(p)
    add_model_specific_options(p)
    add_output_directory_options(p, "run directory, created if needed (default: runs/<model>-<dataset>-<time>)",
                                 quiet="no progress bar and no report; print only the run directory")
    p.set_defaults(handler=run)


def run(args) -> int:
    """``npae train``: see ``npae train --help``."""
    args.hidden_sizes = parse_hidden_sizes(args.hidden_sizes)
    backend = B.get_backend(args.backend)  # unknown or unusable backends fail here, before any work
    args.backend_name = backend.name
    cls = get_model_class(args.model)
    model = cls(**model_kwargs(cls, args.model, args))
    model._check_hyperparameters()  # refuse bad values before loading data or training

    X_train, y_train, X_test, y_test, info = load_training_data(
        args.dataset, data_dir=args.data_dir, download=args.download)
    with run_directory(args.out, args.model, info["name"], args.force, replaces=RUN_FILES) as run_dir:
        return _train_into(run_dir, args, cls, model, backend, (X_train, y_train, X_test, y_test), info)


def _train_into(run_dir: RunDirectory, args, cls, model, backend, data, info) -> int:
    """Fit, evaluate, save and report into an existing run directory."""
    X_train, y_train, X_test, y_test = data
    n_features = X_train.shape[1]
    say = (lambda *a, **k: None) if args.quiet else print
    test_text = f"test {X_test.shape}" if X_test is not None else "no test set"
    say(f"npae train: {args.model} ({cls.__name__}) on {info['title']}: train {X_train.shape}, {test_text}; "
        f"{backend.name} backend ({backend.device}); writing to {run_dir}", flush=True)

    start = time.perf_counter()
    try:
        model.fit(X_train, validation_data=X_test)
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (npae.cli.main raises Terminated for it)
        reason = "terminated by SIGTERM" if isinstance(err, Terminated) else "interrupted by Ctrl-C (SIGINT)"
        _write_unfinished_run(run_dir, args, cls, model, backend, data, info, "interrupted", reason,
                              time.perf_counter() - start)
        raise
    except FloatingPointError as err:
        _write_unfinished_run(run_dir, args, cls, model, backend, data, info, "diverged", str(err),
                              time.perf_counter() - start)
        raise
    seconds = time.perf_counter() - start

    # the objective (what history's loss reports), not score (the reconstruction error)
    train_loss = -float(np.mean(model.score_samples(X_train)))
    test_loss = -float(np.mean(model.score_samples(X_test))) if X_test is not None else None
    model.save(run_dir / "model.npz")

    fig = plotting.plot_loss_curves(model.history_)
    fig.savefig(run_dir / "loss.png", dpi=100)
    shown_X, shown_y, shown_split = (X_test, y_test, "test") if X_test is not None else (X_train, y_train, "train")
    picks = pick_examples(shown_y, shown_X.shape[0])
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
    objective = objective_name(model)
    metrics = {
        **_run_header(args, cls, model, backend, data, "completed"),
        "epochs": epochs_run,
        "seconds": round(seconds, 3),
        "samples_per_second": round(epochs_run * X_train.shape[0] / seconds, 1) if seconds > 0 else None,
        "objective": objective,
        "train_loss": float(train_loss),
        "test_loss": None if test_loss is None else float(test_loss),
        f"train_loss_per_{unit}": float(train_loss) / n_features,
        f"test_loss_per_{unit}": None if test_loss is None else float(test_loss) / n_features,
        "history": jsonable(model.history_),
        "files": list(RUN_FILES),
    }
    non_finite = [key for key in ("train_loss", "test_loss") if metrics[key] is not None
                  and not math.isfinite(metrics[key])]
    if non_finite:
        metrics["status"] = "diverged"
        metrics["error"] = (f"the final {' and '.join(non_finite)} {'is' if len(non_finite) == 1 else 'are'} "
                            "not finite")
    _write_run_metrics(run_dir / "metrics.json", metrics)
    if non_finite:
        run_dir.keep_on_error()
        raise FloatingPointError(
            f"{metrics['error']} (the model's parameters are finite, but its loss on the data overflows); "
            f"the run in {run_dir} is marked diverged. Lower learning_rate, or pass dtype='float64'.")

    if args.quiet:
        print(run_dir)
        return 0
    rate = metrics["samples_per_second"]
    lines = [
        "",
        f"  dataset    {info['title']}",
        f"  shapes     train {X_train.shape}, {test_text}",
        f"  model      {cls.__name__} {architecture(model, n_features)}, "
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


def _run_header(args, cls, model, backend, data, status: str) -> dict:
    """The first entries of metrics.json: what ran, on what, and how it ended."""
    X_train, _, X_test, _ = data
    return {
        "npae_version": __version__,
        "status": status,
        "model": args.model,
        "model_class": cls.__name__,
        "params": jsonable(model.get_params(deep=False)),
        "dataset": dataset_record(args.dataset),
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]) if X_test is not None else 0,
        "n_features": int(X_train.shape[1]),
        "backend": backend.name,
        "device": str(backend.device),
    }


def _write_unfinished_run(run_dir: RunDirectory, args, cls, model, backend, data, info, status: str, error: str,
                          seconds: float) -> None:
    """Mark a run that did not finish: metrics.json with its ``status`` ("interrupted" or
    "diverged") and the completed epochs, and model.npz when the model holds a state to resume
    from (the training loop leaves only finite states: the last completed step, or the last
    finite one). No figures, so the directory never looks like a finished run."""
    files = []
    history = dict(getattr(model, "history_", None) or {})
    if getattr(model, "n_features_in_", None) is not None:  # built: its state can be resumed
        try:
            model.save(run_dir / "model.npz")
            files.append("model.npz")
        except (OSError, ValueError) as err:  # the mark must still be written
            error = f"{error}; model.npz not written: {err}"
    files.append("metrics.json")
    metrics = {
        **_run_header(args, cls, model, backend, data, status),
        "error": error,
        "epochs": len(history.get("loss", [])),
        "seconds": round(seconds, 3),
        "history": jsonable(history),
        "files": files,
    }
    _write_run_metrics(run_dir / "metrics.json", metrics)
    run_dir.keep_on_error()  # the command fails, but this run's record is moved into place


def _write_run_metrics(path: Path, metrics: dict) -> None:
    """Write ``metrics`` as RFC 8259 JSON: a NaN or infinite number is written as null, and the
    keys that held one are listed under "non_finite" (bare NaN / Infinity are not JSON)."""
    non_finite = sorted(set(_non_finite_keys(metrics)))
    clean = jsonable(metrics)
    if non_finite:
        clean["non_finite"] = non_finite
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(clean, handle, indent=2, allow_nan=False)
        handle.write("\n")


def _non_finite_keys(value, key: str = ""):
    """Dotted keys (``history.val_loss``) under which ``value`` holds a NaN or infinite float."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite_keys(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _non_finite_keys(v, key)
    elif isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        yield key
