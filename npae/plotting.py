"""Figures for autoencoders: reconstructions, loss curves, latent spaces, samples, filters, scores.

Host code: every function takes NumPy arrays or arrays of any npae backend (they pass through
``npae.backend.to_numpy`` at the door), draws with matplotlib's object-oriented API and returns
the ``matplotlib.figure.Figure``. No pyplot state is touched: figures are made with
``Figure()`` on an Agg canvas, so nothing accumulates in ``pyplot``'s figure list, nothing pops up
in scripts, and ``fig.savefig(path)`` works headless. In a notebook, a returned figure is shown
like any other (IPython renders ``Figure`` objects); ``fig.savefig("x.png")`` writes it to disk.

Images are rows of length D drawn as ``image_shape`` (h, w) pictures; ``image_shape=None`` infers
a square for square D (784 → 28 × 28, 64 → 8 × 8). Mosaics are assembled into one array and drawn
with one ``imshow``, which is much faster than an axes per image.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from npae.backend import to_numpy

__all__ = [
    "infer_image_shape",
    "plot_filters",
    "plot_latent_scatter",
    "plot_loss_curves",
    "plot_manifold_grid",
    "plot_model_comparison",
    "plot_rate_distortion",
    "plot_reconstructions",
    "plot_roc_curves",
    "plot_samples",
    "plot_score_histograms",
    "plot_singular_values",
]

_CMAP = "gray"


# ------------------------------------------------------------------------------ helpers
def _figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas (no pyplot, so no global figure list grows)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _host(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a finite-checked float64 NumPy array, with ``ndim`` enforced (a clear error)."""
    try:
        arr = np.asarray(to_numpy(x))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array; got {type(x).__name__} ({err}).") from err
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric; got an array of dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {want} array; got shape {arr.shape}.")
    return arr


def _check_count(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}; got {value!r}.")
    return int(value)


def infer_image_shape(n_features: int, image_shape=None) -> tuple[int, int]:
    """(h, w) for rows of ``n_features`` values: ``image_shape`` checked, or a square inferred.

    Raises
    ------
    ValueError
        If ``image_shape`` does not multiply to ``n_features``, or D is not a perfect square and
        no ``image_shape`` was given.
    """
    if image_shape is not None:
        try:
            h, w = (int(s) for s in image_shape)
        except (TypeError, ValueError) as err:
            raise ValueError(f"image_shape must be a pair (height, width); got {image_shape!r}.") from err
        if h <= 0 or w <= 0 or h * w != n_features:
            raise ValueError(
                f"image_shape={image_shape!r} holds {h * w} pixels but rows have {n_features} "
                f"features; pass an (h, w) with h·w = {n_features}."
            )
        return h, w
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(
            f"Cannot infer an image shape for rows of {n_features} features (not a perfect "
            f"square); pass image_shape=(height, width) with height·width = {n_features}."
        )
    return side, side


def _mosaic(images: np.ndarray, n_cols: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """Tile (M, h, w) images into one (rows·(h+pad)−pad, n_cols·(w+pad)−pad) array."""
    m, h, w = images.shape
    n_rows = max(1, math.ceil(m / n_cols))
    out = np.full((n_rows * (h + pad) - pad, n_cols * (w + pad) - pad), fill, dtype=np.float64)
    for i in range(m):
        r, c = divmod(i, n_cols)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = images[i]
    return out


def _show_mosaic(ax, mosaic: np.ndarray, vmin: float, vmax: float, cmap: str = _CMAP) -> None:
    """Draw a mosaic whose NaN gutters render white."""
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    if not vmax > vmin:  # a constant image: widen the range so imshow does not divide by zero
        vmin, vmax = vmin - 0.5, vmax + 0.5
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _value_range(*arrays: np.ndarray) -> tuple[float, float]:
    """Display range: [0, 1] for data inside it (pixels), else the joint finite min and max."""
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(float(a.min()) for a in finite), max(float(a.max()) for a in finite)
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return lo, hi


def _check_mapping(value, name: str) -> Mapping:
    if not isinstance(value, Mapping) or not value:
        raise TypeError(f"{name} must be a non-empty dict; got {type(value).__name__}"
                        f"{' (empty)' if isinstance(value, Mapping) else ''}.")
    return value


# ------------------------------------------------------------------------------ images
def plot_reconstructions(X, X_hat, n: int = 10, image_shape=None) -> Figure:
    """Originals (top row) above their reconstructions (bottom row), for the first n rows.

    Parameters
    ----------
    X : array of shape (N, D)
        Inputs.
    X_hat : array of shape (N, D)
        Their reconstructions, in data space (e.g. ``model.reconstruct(X)``).
    n : int, default=10
        How many pairs to show (at most N).
    image_shape : (h, w), optional
        Inferred for square D. ``(1, D)`` draws rows that are not images (tabular data) as
        heat-map strips, one sample per line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    X = _host(X, "X", 2)
    X_hat = _host(X_hat, "X_hat", 2)
    if X.shape != X_hat.shape:
        raise ValueError(f"X and X_hat must have the same shape; got X {X.shape} and X_hat {X_hat.shape}.")
    n = min(_check_count(n, "n"), X.shape[0])
    if n == 0:
        raise ValueError("X has no rows to show.")
    h, w = infer_image_shape(X.shape[1], image_shape)
    vmin, vmax = _value_range(X[:n], X_hat[:n])
    if h == 1:  # not images: each sample is a strip; originals and reconstructions side by side
        fig = _figure(10.0, 1.0 + 0.25 * n)
        axes = fig.subplots(1, 2, sharey=True)
        for ax, data, title in zip(axes, (X[:n], X_hat[:n]), ("original", "reconstruction")):
            image = ax.imshow(data, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
            ax.set_title(title)
            ax.set_xlabel("feature")
        axes[0].set_ylabel("sample")
        fig.colorbar(image, ax=list(axes), shrink=0.8)
        return fig
    fig = _figure(max(3.0, 1.1 * n), 2.6 * h / max(w, 1) + 0.4)
    axes = fig.subplots(2, 1)
    for ax, data, label in zip(axes, (X[:n], X_hat[:n]), ("original", "reconstruction")):
        _show_mosaic(ax, _mosaic(data.reshape(n, h, w), n_cols=n), vmin, vmax)
        ax.set_ylabel(label)
    return fig


def plot_samples(X, n_cols: int = 8, image_shape=None) -> Figure:
    """Every row of X as an image, in a grid ``n_cols`` wide (e.g. samples from a VAE).

    Parameters
    ----------
    X : array of shape (N, D)
    n_cols : int, default=8
    image_shape : (h, w), optional
        Inferred for square D.
    """
    X = _host(X, "X", 2)
    if X.shape[0] == 0:
        raise ValueError("X has no rows to show.")
    n_cols = min(_check_count(n_cols, "n_cols"), X.shape[0])
    h, w = infer_image_shape(X.shape[1], image_shape)
    n_rows = math.ceil(X.shape[0] / n_cols)
    fig = _figure(max(2.0, 0.8 * n_cols * w / max(h, w)), max(1.5, 0.8 * n_rows * h / max(h, w)))
    ax = fig.subplots()
    vmin, vmax = _value_range(X)
    _show_mosaic(ax, _mosaic(X.reshape(-1, h, w), n_cols), vmin, vmax)
    return fig


def plot_filters(W, image_shape=None, n: int = 64) -> Figure:
    """First-layer weights as images: column j of W (D, H) is the filter of hidden unit j.

    Each filter is scaled to its own symmetric range [−max|w|, max|w|] on a diverging colour map,
    so the sign pattern is visible whatever the unit's scale.

    Parameters
    ----------
    W : array of shape (D, H)
        E.g. ``model.parameters()["encoder.0.W"]`` (kernels are (in, out), as in ``Dense``).
    image_shape : (h, w), optional
        Inferred for square D.
    n : int, default=64
        How many filters (the first n units) to draw.
    """
    W = _host(W, "W", 2)
    if W.shape[1] == 0:
        raise ValueError("W has no columns (hidden units) to show.")
    n = min(_check_count(n, "n"), W.shape[1])
    h, w = infer_image_shape(W.shape[0], image_shape)
    filters = W[:, :n].T
    scale = np.max(np.abs(filters), axis=1, keepdims=True)
    filters = filters / np.where(scale > 0, scale, 1.0)
    n_cols = min(n, math.ceil(math.sqrt(n)))
    n_rows = math.ceil(n / n_cols)
    fig = _figure(max(2.5, 0.7 * n_cols), max(2.5, 0.7 * n_rows))
    ax = fig.subplots()
    _show_mosaic(ax, _mosaic(filters.reshape(n, h, w), n_cols), -1.0, 1.0, cmap="RdBu_r")
    ax.set_title(f"first-layer filters (units 0–{n - 1}, each scaled to ±max|w|)")
    return fig


def plot_manifold_grid(decode_fn: Callable, n: int = 15, image_shape=None, latent_range: float = 3.0) -> Figure:
    """Decode an n × n grid of 2-D codes, z1 and z2 in [−latent_range, latent_range].

    Parameters
    ----------
    decode_fn : callable
        Maps codes (n², 2) float32 NumPy array to data (n², D), e.g. ``vae.inverse_transform``
        of a model with ``latent_dim=2``.
    n : int, default=15
        Grid points per axis.
    image_shape : (h, w), optional
        Inferred for square D.
    latent_range : float, default=3.0
        Half-width of the grid; 3 covers ±3 standard deviations of a N(0, I) prior.
    """
    if not callable(decode_fn):
        raise TypeError(f"decode_fn must be callable (codes (M, 2) -> data (M, D)); got {type(decode_fn).__name__}.")
    n = _check_count(n, "n")
    if isinstance(latent_range, bool) or not isinstance(latent_range, numbers.Real) or not latent_range > 0:
        raise ValueError(f"latent_range must be a positive number; got {latent_range!r}.")
    values = np.linspace(-float(latent_range), float(latent_range), n)
    z1, z2 = np.meshgrid(values, values[::-1])  # z2 grows upwards, as on a plot's y axis
    Z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)
    X = _host(decode_fn(Z), "decode_fn(Z)", 2)
    if X.shape[0] != n * n:
        raise ValueError(f"decode_fn returned {X.shape[0]} rows for {n * n} codes; it must return one row per code.")
    h, w = infer_image_shape(X.shape[1], image_shape)
    fig = _figure(6.0, 6.0)
    ax = fig.subplots()
    vmin, vmax = _value_range(X)
    _show_mosaic(ax, _mosaic(X.reshape(-1, h, w), n, pad=0), vmin, vmax)
    ticks = [0, (n - 1) / 2, n - 1]
    ax.set_xticks([t * w + w / 2 - 0.5 for t in ticks], [f"{-latent_range:g}", "0", f"{latent_range:g}"])
    ax.set_yticks([t * h + h / 2 - 0.5 for t in ticks], [f"{latent_range:g}", "0", f"{-latent_range:g}"])
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    return fig


# ------------------------------------------------------------------------------ curves
def _epoch_axis(ax) -> None:
    """Whole-number epoch ticks; a one-epoch curve gets the single tick 1 (the integer locator gives
    fractional ticks when the axis spans less than one)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    low, high = ax.get_xlim()
    if high - low < 1.0:
        ax.set_xlim(0.5, 1.5)
        ax.set_xticks([1])


def plot_loss_curves(history: Mapping) -> Figure:
    """Training and validation loss per epoch; other logged terms in a second panel.

    Parameters
    ----------
    history : dict[str, list[float]]
        ``model.history_``: "loss" (required), "val_loss", and any other terms ("reconstruction",
        "kl", "sparsity", … and their "val_" versions), one value per epoch.
    """
    history = _check_mapping(history, "history")
    if "loss" not in history:
        raise ValueError(f"history has no 'loss' entry (keys: {sorted(history)}); pass model.history_ after fit.")
    series = {key: _host(values, f"history[{key!r}]", 1) for key, values in history.items()}
    others = sorted(k for k in series if k not in ("loss", "val_loss") and not k.startswith("val_"))
    others += sorted(k for k in series if k.startswith("val_") and k != "val_loss" and k[4:] not in others)
    fig = _figure(11.0 if others else 6.0, 4.0)
    axes = fig.subplots(1, 2 if others else 1, squeeze=False)[0]
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in series:
            values = series[key]
            axes[0].plot(np.arange(1, values.size + 1), values, style, marker="o", markersize=3,
                         label="train" if key == "loss" else "validation")
    _epoch_axis(axes[0])
    axes[0].set_title("loss (per sample)")
    axes[0].set_xlabel("epoch")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    if others:
        for key in others:
            if key.startswith("val_"):
                continue
            values = series[key]
            (line,) = axes[1].plot(np.arange(1, values.size + 1), values, "-", marker="o", markersize=3, label=key)
            if f"val_{key}" in series:  # same colour as its training twin
                val = series[f"val_{key}"]
                axes[1].plot(np.arange(1, val.size + 1), val, "--", marker="o", markersize=3, color=line.get_color(),
                             label=f"val_{key}")
        for key in others:
            if key.startswith("val_"):  # a val_ term without a training twin
                val = series[key]
                axes[1].plot(np.arange(1, val.size + 1), val, "--", marker="o", markersize=3, label=key)
        _epoch_axis(axes[1])
        values = np.concatenate([series[k] for k in others])
        values = values[np.isfinite(values)]
        positive = values[values > 0]
        if positive.size and values.min() >= 0 and positive.max() / positive.min() > 10:
            axes[1].set_yscale("log")  # terms of very different sizes (reconstruction vs KL)
        axes[1].set_title("other logged terms (per sample)")
        axes[1].set_xlabel("epoch")
        axes[1].legend()
        axes[1].grid(alpha=0.3)
    return fig


def plot_model_comparison(histories: Mapping, X, reconstructions: Mapping, title: str | None = None,
                          image_shape=None) -> Figure:
    """Two or more models side by side: their loss curves (left) and their reconstructions of X (right).

    Parameters
    ----------
    histories : dict[str, dict[str, list[float]]]
        label → ``model.history_`` ("loss" required, "val_loss" drawn too), e.g.
        ``{"npae": npae_model.history_, "yours": your_model.history_}``.
    X : array of shape (n, D)
        The inputs shown (a handful of rows), drawn on the first image row.
    reconstructions : dict[str, array of shape (n, D)]
        label → that model's reconstruction of X (``model.reconstruct(X)``), one image row each.
    title : str, optional
        The loss panel's title.
    image_shape : (h, w), optional
        Inferred for square D.

    Returns
    -------
    matplotlib.figure.Figure
    """
    histories = _check_mapping(histories, "histories")
    reconstructions = _check_mapping(reconstructions, "reconstructions")
    X = _host(X, "X", 2)
    rows = {label: _host(x_hat, f"reconstructions[{label!r}]", 2) for label, x_hat in reconstructions.items()}
    for label, x_hat in rows.items():
        if x_hat.shape != X.shape:
            raise ValueError(f"reconstructions[{label!r}] has shape {x_hat.shape}; X has {X.shape}: pass "
                             "model.reconstruct(X) for the same X.")
    if X.shape[0] == 0:
        raise ValueError("X has no rows to show.")
    h, w = infer_image_shape(X.shape[1], image_shape)
    fig = _figure(12.0, 3.8)
    loss_ax, image_ax = fig.subplots(1, 2, width_ratios=(1, 2))
    for (label, history), marker in zip(histories.items(), "oxs+^v"):
        history = _check_mapping(history, f"histories[{label!r}]")
        if "loss" not in history:
            raise ValueError(f"histories[{label!r}] has no 'loss' entry; pass model.history_ after fit.")
        for key, style in (("loss", "-"), ("val_loss", "--")):
            if key in history:
                values = _host(history[key], f"histories[{label!r}][{key!r}]", 1)
                loss_ax.plot(np.arange(1, values.size + 1), values, style, marker=marker, markersize=4,
                             label=f"{label}, {'training' if key == 'loss' else 'validation'}")
    _epoch_axis(loss_ax)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss per sample")
    loss_ax.set_title(title or "loss curves")
    loss_ax.legend(fontsize=7)
    loss_ax.grid(alpha=0.3)
    shown = [X, *rows.values()]
    n = X.shape[0]
    vmin, vmax = _value_range(*shown)
    stacked = np.concatenate([images.reshape(n, h, w) for images in shown])
    _show_mosaic(image_ax, _mosaic(stacked, n_cols=n), vmin, vmax)
    image_ax.set_yticks([(h + 1) * i + (h - 1) / 2 for i in range(len(shown))], ["input", *rows])
    image_ax.set_title("reconstructions")
    return fig


def plot_latent_scatter(Z, y=None, class_names=None) -> Figure:
    """Codes as points, coloured by label; PCA to 2-D (scikit-learn) when K > 2.

    Parameters
    ----------
    Z : array of shape (N, K)
        Codes, e.g. ``model.transform(X)``. K = 1 is drawn against a small vertical jitter.
    y : array of shape (N,), optional
        Integer class labels for colours.
    class_names : sequence or dict, optional
        Legend names, indexed by label.
    """
    Z = _host(Z, "Z", 2)
    n, k = Z.shape
    if n == 0 or k == 0:
        raise ValueError(f"Z must have at least one row and one column; got shape {Z.shape}.")
    xlabel, ylabel = "z₁", "z₂"
    if k > 2:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=0)
        P = pca.fit_transform(Z)
        ratio = pca.explained_variance_ratio_
        xlabel, ylabel = f"PC1 ({100 * ratio[0]:.0f}% var.)", f"PC2 ({100 * ratio[1]:.0f}% var.)"
        title = f"codes (K = {k}), PCA to 2-D"
    elif k == 2:
        P, title = Z, "codes (K = 2)"
    else:
        jitter = np.random.default_rng(0).uniform(-0.5, 0.5, size=n)
        P, ylabel, title = np.stack([Z[:, 0], jitter], axis=1), "jitter", "codes (K = 1)"
    fig = _figure(6.5, 5.5)
    ax = fig.subplots()
    if y is None:
        ax.scatter(P[:, 0], P[:, 1], s=6, alpha=0.6)
    else:
        labels = np.asarray(to_numpy(y))
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ValueError(f"y must have one label per row of Z: expected shape ({n},), got {labels.shape}.")
        classes = np.unique(labels)
        cmap = matplotlib.colormaps["tab10" if classes.size <= 10 else "tab20"]
        for i, label in enumerate(classes):
            mask = labels == label
            name = label
            if class_names is not None:
                try:
                    name = class_names[int(label)] if not isinstance(class_names, Mapping) else class_names[label]
                except (KeyError, IndexError, TypeError, ValueError) as err:
                    raise ValueError(f"class_names has no entry for label {label!r}.") from err
            ax.scatter(P[mask, 0], P[mask, 1], s=6, alpha=0.7, color=cmap(i % cmap.N), label=str(name))
        ax.legend(markerscale=3, fontsize="small", loc="best")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return fig


def plot_score_histograms(scores_by_group: Mapping, bins: int = 50) -> Figure:
    """Overlaid histograms of anomaly scores, one per group, on shared bins.

    Parameters
    ----------
    scores_by_group : dict[str, array of shape (N_g,)]
        E.g. {"normal": model.score_samples(X_in), "anomalous": model.score_samples(X_out)}.
    bins : int, default=50
    """
    groups = _check_mapping(scores_by_group, "scores_by_group")
    data = {str(name): _host(scores, f"scores_by_group[{name!r}]", 1) for name, scores in groups.items()}
    for name, scores in data.items():
        if scores.size == 0 or not np.all(np.isfinite(scores)):
            raise ValueError(f"scores_by_group[{name!r}] must be non-empty and finite.")
    bins = _check_count(bins, "bins")
    edges = np.histogram_bin_edges(np.concatenate(list(data.values())), bins=bins)
    fig = _figure(7.0, 4.0)
    ax = fig.subplots()
    for name, scores in data.items():
        ax.hist(scores, bins=edges, alpha=0.5, density=True, label=f"{name} (n = {scores.size})")
    ax.set_xlabel("score (higher = more normal)")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def plot_roc_curves(curves: Mapping) -> Figure:
    """ROC curves with their AUC in the legend (scikit-learn's roc_curve and auc).

    Parameters
    ----------
    curves : dict[str, (y_true, scores)]
        y_true of shape (N,) with 1 for the positive class (e.g. anomalies), scores of shape (N,)
        where higher means more positive (negate ``score_samples`` for anomalies).
    """
    from sklearn.metrics import auc, roc_curve

    curves = _check_mapping(curves, "curves")
    fig = _figure(5.5, 5.0)
    ax = fig.subplots()
    for name, pair in curves.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"curves[{name!r}] must be a pair (y_true, scores).")
        y_true = _host(pair[0], f"curves[{name!r}] y_true", 1)
        scores = _host(pair[1], f"curves[{name!r}] scores", 1)
        if y_true.shape != scores.shape:
            raise ValueError(f"curves[{name!r}]: y_true {y_true.shape} and scores {scores.shape} differ in shape.")
        if np.unique(y_true).size != 2:
            raise ValueError(f"curves[{name!r}]: y_true must contain both classes (0 and 1).")
        fpr, tpr, _ = roc_curve(y_true, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC = {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right")
    return fig


def plot_singular_values(spectra: Mapping) -> Figure:
    """Singular values by index on a log scale, e.g. of encoder Jacobians ∂h/∂x.

    Parameters
    ----------
    spectra : dict[str, array of shape (R,) or (N, R)]
        One spectrum, or one per sample (rows): then the median is drawn with a 10–90 % band.
        Each spectrum is sorted in decreasing order.
    """
    spectra = _check_mapping(spectra, "spectra")
    fig = _figure(6.5, 4.5)
    ax = fig.subplots()
    for name, values in spectra.items():
        s = _host(values, f"spectra[{name!r}]", (1, 2))
        if s.size == 0:
            raise ValueError(f"spectra[{name!r}] is empty.")
        s = -np.sort(-np.atleast_2d(s), axis=1)
        index = np.arange(1, s.shape[1] + 1)
        (line,) = ax.plot(index, np.median(s, axis=0), marker="o", markersize=3, label=name)
        if s.shape[0] > 1:
            lo, hi = np.percentile(s, [10, 90], axis=0)
            ax.fill_between(index, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("index")
    ax.set_ylabel("singular value")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    return fig


def plot_rate_distortion(points: Mapping) -> Figure:
    """PSNR against bits per image, one line per method (e.g. autoencoder vs PCA).

    Parameters
    ----------
    points : dict[str, (bits, psnr)]
        bits and psnr of shape (M,): one point per code size.
    """
    points = _check_mapping(points, "points")
    fig = _figure(6.0, 4.5)
    ax = fig.subplots()
    for name, pair in points.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"points[{name!r}] must be a pair (bits, psnr).")
        bits = _host(pair[0], f"points[{name!r}] bits", 1)
        psnr = _host(pair[1], f"points[{name!r}] psnr", 1)
        if bits.shape != psnr.shape or bits.size == 0:
            raise ValueError(f"points[{name!r}]: bits {bits.shape} and psnr {psnr.shape} must be equal, non-empty shapes.")
        order = np.argsort(bits)
        ax.plot(bits[order], psnr[order], marker="o", label=name)
    ax.set_xlabel("bits per image")
    ax.set_ylabel("PSNR (dB)")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
