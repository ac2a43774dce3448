"""``npae detect``: train an anomaly detector, report its AUROC beside PCA and IsolationForest."""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import IsolationForest

from npae import backend as B
from npae import plotting
from npae._version import __version__
from npae.applications import AnomalyDetector, PCAReconstructionDetector, evaluate_detectors
from npae.applications.anomaly import _check_pca_components
from npae.applications.detector import SCORES
from npae.cli.data import DATASETS, dataset_record, load_training_data
from npae.cli.options import (
    CLIError,
    add_architecture_options,
    add_dataset_options,
    add_download_option,
    add_model_option,
    add_model_specific_options,
    add_output_directory_options,
    get_model_class,
    model_kwargs,
    one_line,
    parse_hidden_sizes,
    unknown,
)
from npae.cli.output import cli_path, run_directory, safe_name, table, write_metrics
from npae.datasets import load_mnist

#: --score choices: the model's own scores and the detector's Gaussian score of residuals and codes.
CLI_SCORES = (SCORES[0], "gaussian", *SCORES[1:])

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Add ``detect`` and its options to the ``npae`` subcommands."""
    p = subparsers.add_parser(
        "detect",
        help="anomaly detection: train a detector, report AUROC beside PCA and IsolationForest",
        description="Train an autoencoder as an anomaly detector (npae.AnomalyDetector) and measure\n"
                    "its AUROC and average precision beside two baselines fitted in the same run: PCA\n"
                    "reconstruction error (as many components as the code) and IsolationForest.\n"
                    "Two protocols:\n"
                    "  --normal-class C  train on class C of --dataset; its test images are normal,\n"
                    "                    every other test image is an anomaly (one-class protocol)\n"
                    "  --ood mnist       train on Fashion-MNIST (--dataset embedded or fashion-mnist);\n"
                    "                    its test set is normal, the MNIST test set is anomalous\n"
                    "Likelihood scores are known to fail the second one (Nalisnick et al. 2019: a\n"
                    "VAE of Fashion-MNIST gives MNIST a higher likelihood); --score elbo_complexity\n"
                    "subtracts each image's zlib length (Serrà et al. 2020). Writes metrics.json,\n"
                    "roc.png and scores.png into a run directory.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae detect --normal-class 0\n"
               "  npae detect --model vae --score elbo iwae --normal-class all --epochs 5\n"
               "  npae detect --model vae --ood mnist --score elbo elbo_complexity\n"
               "  npae detect --ood mnist --mnist-dir /data/mnist --max-test 2000",
    )
    task = p.add_argument_group("protocol (give exactly one)").add_mutually_exclusive_group(required=True)
    task.add_argument("--normal-class", default=None, metavar="C|C1,C2|all",
                      help="one-class protocol: the label(s) treated as normal, one run per label, or "
                           "all of them (then the table also has the mean)")
    task.add_argument("--ood", default=None, choices=("mnist",),
                      help="out-of-distribution protocol: the MNIST test set as anomalies")
    det = p.add_argument_group("detector")
    add_model_option(det, "the autoencoder trained on the normal data (default: ae)")
    det.add_argument("--score", nargs="+", default=None, metavar="NAME",
                     help="one or more of " + ", ".join(CLI_SCORES) + "; gaussian is the Gaussian "
                          "log-density of the residuals and codes (AnomalyDetector's score for its built-in "
                          "model); elbo, iwae and elbo_complexity need --model vae; each is one row of the "
                          "table, from one trained model (default: reconstruction, elbo for the vae)")
    det.add_argument("--k", type=int, default=100, metavar="K",
                     help="importance samples for the iwae and elbo_complexity scores (default: 100)")
    data = p.add_argument_group("data")
    add_dataset_options(data, default="embedded",
                        help="the normal data, with labels for --normal-class: embedded, fashion-mnist, "
                             "mnist, digits or an .npz file with X_train, y_train, X_test, y_test; "
                             "--ood mnist needs embedded or fashion-mnist (default: embedded)",
                        data_dir_help="directory holding the Fashion-MNIST / MNIST IDX files of --dataset")
    data.add_argument("--mnist-dir", default=None, metavar="DIR",
                      help="directory holding the MNIST test files for --ood mnist (default: the "
                           "dataset lookup: $NPAE_DATA/mnist, $NPAE_DATA, the user cache, "
                           "/usr/share/datasets/mnist)")
    add_download_option(data)
    data.add_argument("--max-test", type=int, default=1000, metavar="N",
                      help="score at most N test images (a random subset, fixed by --seed) and, for "
                           "--ood, at most N MNIST images; 0 for all (default: 1000)")
    add_architecture_options(p, loss_default="mse, whose score has no entropy floor")
    add_model_specific_options(p)
    add_output_directory_options(p, "run directory, created if needed (default: "
                                    "runs/detect-<model>-<class-C|classes|ood-mnist>-<time>)",
                                 quiet="no progress bars and no table; print only the run directory")
    p.set_defaults(handler=run)


def _parse_classes(text: str, labels: np.ndarray) -> list:
    present = np.unique(labels)
    if text.strip().lower() == "all":
        return [c.item() for c in present]
    classes = []
    for part in text.replace(",", " ").split():
        try:
            c = int(part)
        except ValueError:
            raise CLIError(f"--normal-class takes labels such as 0, '0,3' or all; got {part!r}.") from None
        if c not in present:
            raise CLIError(f"--normal-class {c} is not a label of the training data (labels: "
                           f"{', '.join(str(v) for v in present)}).")
        classes.append(c)
    if not classes:
        raise CLIError("--normal-class needs at least one label, e.g. 0, '0,3' or all.")
    return list(dict.fromkeys(classes))  # '0,0' runs class 0 once


def _subset(X, y, n_max: int, rng):
    if n_max == 0 or X.shape[0] <= n_max:
        return X, y
    idx = np.sort(rng.choice(X.shape[0], size=n_max, replace=False))
    return X[idx], (None if y is None else y[idx])


def _detect_scores(args) -> list:
    scores = list(args.score) if args.score else ["elbo" if args.model == "vae" else "reconstruction"]
    for s in scores:
        if s not in CLI_SCORES:
            raise CLIError(unknown("--score", s, CLI_SCORES))
        if s not in ("reconstruction", "gaussian") and args.model != "vae":
            raise CLIError(f"--score {s} needs a likelihood model: add --model vae (--model {args.model} "
                           "supports --score reconstruction and gaussian).")
    return list(dict.fromkeys(scores))


def _unit(info) -> str:
    """What the rows are called in the report: images for the named image datasets and image .npz files."""
    return "images" if info["name"] in DATASETS or info.get("image_shape") is not None else "rows"


def _run_detectors(model, scores, args, X_fit, X_test, is_anomaly):
    """Rows and anomaly scores for the npae detectors (one fitted model) and the two baselines."""
    model.fit(X_fit)
    detectors = {f"{args.model} ({s})": AnomalyDetector(model, anomaly_score=s, n_samples=args.k, refit=False,
                                                        random_state=args.seed) for s in scores}
    X_threshold = X_fit[: min(1000, X_fit.shape[0])]  # offset_ only: bounds the cost of iwae scores
    rows, anomaly = evaluate_detectors(detectors, X_threshold, X_test, is_anomaly)
    K = int(model.latent_dim)
    baselines = {f"PCA reconstruction (K={K})": PCAReconstructionDetector(K),
                 "IsolationForest": IsolationForest(n_estimators=100, random_state=args.seed)}
    base_rows, base_scores = evaluate_detectors(baselines, X_fit, X_test, is_anomaly)
    anomaly.update(base_scores)
    return rows + base_rows, anomaly


def run(args) -> int:
    """``npae detect``: see ``npae detect --help``."""
    scores = _detect_scores(args)
    if args.max_test < 0:
        raise CLIError(f"--max-test must be ≥ 0 (0 for all); got {args.max_test}.")
    if args.k < 1:
        raise CLIError(f"--k must be a positive integer; got {args.k}.")
    args.hidden_sizes = parse_hidden_sizes(args.hidden_sizes)
    if args.loss is None and args.model != "vae":
        args.loss = "mse"
    backend = B.get_backend(args.backend)
    args.backend_name = backend.name
    cls = get_model_class(args.model)
    template = cls(**model_kwargs(cls, args.model, args))
    template._check_hyperparameters()
    rng = np.random.default_rng(args.seed)

    if args.ood:
        key = args.dataset.strip().lower().replace("_", "-")
        if key not in ("embedded", "fashion-mnist"):
            raise CLIError(f"--ood mnist trains on Fashion-MNIST: use --dataset embedded or fashion-mnist, "
                           f"not {args.dataset!r}.")
        # --download also fetches MNIST (the anomalies): it applies to the training set only for fashion-mnist
        X_train, _, X_in, _, info = load_training_data(key, data_dir=args.data_dir,
                                                       download=args.download and key == "fashion-mnist")
        try:
            mnist_dir = None if args.mnist_dir is None else cli_path(args.mnist_dir, "--mnist-dir")
            X_out, _ = load_mnist("test", data_dir=mnist_dir, download=args.download)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{one_line(err)} On the command line: --mnist-dir DIR, or --download.") from err
        X_in, _ = _subset(X_in, None, args.max_test, rng)
        X_out, _ = _subset(X_out, None, args.max_test, rng)
        tasks = [("ood-mnist", X_train, np.concatenate([X_in, X_out]),
                  np.r_[np.zeros(X_in.shape[0], bool), np.ones(X_out.shape[0], bool)])]
        protocol = f"out-of-distribution: {info['title']} test (normal, {X_in.shape[0]}) vs MNIST test " \
                   f"(anomalous, {X_out.shape[0]})"
    else:
        X_train, y_train, X_test, y_test, info = load_training_data(args.dataset, data_dir=args.data_dir,
                                                                    download=args.download)
        if y_train is None or y_test is None or X_test is None:
            raise CLIError(f"--normal-class needs labelled train and test data; {args.dataset!r} lacks "
                           "y_train, X_test or y_test.")
        classes = _parse_classes(args.normal_class, y_train)
        X_test, y_test = _subset(X_test, y_test, args.max_test, rng)
        tasks = [(f"class-{c}", X_train[y_train == c], X_test, y_test != c) for c in classes]
        protocol = (f"one-class on {info['title']}: train on the normal class, test on {X_test.shape[0]} test "
                    f"{_unit(info)}")
        for (name, _, _, is_anomaly), c in zip(tasks, classes):
            if is_anomaly.all() or not is_anomaly.any():
                missing = f"no test rows of the normal class {c}" if is_anomaly.all() else \
                    f"only test rows of class {c}, so nothing anomalous"
                raise CLIError(f"--normal-class {c}: the test set{' (after --max-test)' if args.max_test else ''} "
                               f"has {missing}; AUROC needs both. Use test data with several classes, or a "
                               "larger --max-test (0 for all).")

    for name, X_fit, _, _ in tasks:  # before any training: the PCA baseline uses K = --latent-dim components
        try:
            _check_pca_components(template.latent_dim, X_fit.shape[0], X_fit.shape[1], option="--latent-dim",
                                 rows=f"{name}'s training rows")
        except ValueError as err:
            raise CLIError(str(err)) from None
    tag = "ood-mnist" if args.ood else (tasks[0][0] if len(tasks) == 1 else "classes")
    with run_directory(args.out, f"detect-{args.model}", safe_name(tag), args.force) as run_dir:
        return _detect_into(run_dir, args, template, scores, tasks, protocol, info, backend)


def _detect_into(run_dir, args, template, scores, tasks, protocol, info, backend) -> int:
    say = (lambda *a, **k: None) if args.quiet else print
    say(f"npae detect: {args.model} ({type(template).__name__}), scores {', '.join(scores)}; {protocol}; "
        f"{backend.name} backend; writing to {run_dir}", flush=True)
    results, files = {}, []
    for name, X_fit, X_test, is_anomaly in tasks:
        model = clone(template)
        rows, anomaly = _run_detectors(model, scores, args, X_fit, X_test, is_anomaly)
        results[name] = {"n_train": int(X_fit.shape[0]), "n_test": int(X_test.shape[0]),
                         "n_anomalous": int(is_anomaly.sum()), "rows": rows}
        suffix = "" if len(tasks) == 1 else f"-{name}"
        fig = plotting.plot_roc_curves({m: (is_anomaly.astype(int), s) for m, s in anomaly.items()})
        fig.suptitle(f"ROC, {name}: anomalies are the positive class", fontsize=10)
        fig.savefig(run_dir / f"roc{suffix}.png", dpi=100)
        first = rows[0]["method"]
        normal_label = "Fashion-MNIST test" if args.ood else "normal class"
        anomalous_label = "MNIST test" if args.ood else "other classes"
        fig = plotting.plot_score_histograms({normal_label: -anomaly[first][~is_anomaly],
                                              anomalous_label: -anomaly[first][is_anomaly]})
        fig.suptitle(f"{first} score, {name}", fontsize=10)
        fig.savefig(run_dir / f"scores{suffix}.png", dpi=100)
        files += [f"roc{suffix}.png", f"scores{suffix}.png"]

    methods = [r["method"] for r in next(iter(results.values()))["rows"]]
    by_task = {name: {r["method"]: r for r in res["rows"]} for name, res in results.items()}
    mean = {m: float(np.mean([by_task[t][m]["auroc"] for t in by_task])) for m in methods}
    metrics = {
        "npae_version": __version__, "command": "detect", "protocol": "ood" if args.ood else "one-class",
        "description": protocol, "dataset": dataset_record(args.dataset), "model": args.model,
        "model_class": type(template).__name__, "params": template.get_params(deep=False),
        "scores": scores, "k": args.k, "backend": backend.name, "seed": args.seed,
        "results": results, "auroc": {t: {m: by_task[t][m]["auroc"] for m in methods} for t in by_task},
        "mean_auroc": mean, "files": ["metrics.json", *files],
    }
    write_metrics(run_dir / "metrics.json", metrics)
    if args.quiet:
        print(run_dir)
        return 0
    print()
    if len(by_task) == 1:
        (name, by_method), = by_task.items()
        print(table([(m, f"{r['auroc']:.3f}", f"{r['average_precision']:.3f}") for m, r in by_method.items()],
                    ("method", "AUROC", "avg precision")))
        print(f"  ({name}: {results[name]['n_anomalous']} of {results[name]['n_test']} test {_unit(info)} are "
              f"anomalies; AUROC 0.5 is chance)")
    else:
        rows = [(t, *(f"{by_task[t][m]['auroc']:.3f}" for m in methods)) for t in by_task]
        rows.append(("mean", *(f"{mean[m]:.3f}" for m in methods)))
        print(table(rows, ("AUROC", *methods)))
    if args.ood:
        by_method = next(iter(by_task.values()))
        for m, r in by_method.items():
            if m.endswith(("(elbo)", "(iwae)")):
                likelier = r["mean_score_anomalous"] > r["mean_score_normal"]
                print(f"  {m}: mean log-likelihood {r['mean_score_normal']:.1f} (Fashion-MNIST) vs "
                      f"{r['mean_score_anomalous']:.1f} (MNIST)"
                      + ("; MNIST looks likelier, the failure of Nalisnick et al. (2019): try "
                         "--score elbo_complexity" if likelier else ""))
    print(f"  wrote {run_dir}{os.sep}{{{', '.join(metrics['files'])}}}")
    return 0
