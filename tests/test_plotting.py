"""npae.plotting, headless: every function returns a Figure that renders to a non-blank image,
touches no pyplot state, takes any backend's arrays, and refuses bad input with a clear error."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from npae import backend as B
from npae import plotting
from tests.helpers import to_backend


def _rendered(fig):
    """The figure drawn on its canvas, as an (H, W, 4) uint8 RGBA array."""
    assert isinstance(fig, Figure)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())


def assert_not_blank(fig, min_colours=3, min_ink=0.005):
    """More than a couple of distinct colours, and some share of pixels that are not white."""
    rgba = _rendered(fig)
    colours = np.unique(rgba.reshape(-1, 4), axis=0).shape[0]
    ink = np.mean(np.any(rgba[..., :3] < 250, axis=-1))
    assert colours >= min_colours, f"only {colours} distinct colours"
    assert ink >= min_ink, f"only {ink:.4f} of the pixels are not white"


@pytest.fixture
def images(rng):
    X = rng.random((12, 64))
    return X, np.clip(X + 0.1 * rng.standard_normal(X.shape), 0.0, 1.0)


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """No function may leave a figure in pyplot's global list."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


# ----------------------------------------------------------------------------- images
def test_reconstructions_render_two_rows_of_n_images(images):
    X, X_hat = images
    fig = plotting.plot_reconstructions(X, X_hat, n=5)
    assert_not_blank(fig)
    assert len(fig.axes) == 2
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (8, 5 * 8 + 4)  # five 8 × 8 tiles with 1-pixel gutters


def test_reconstructions_infer_28x28_and_accept_explicit_shape(rng):
    X = rng.random((3, 784))
    fig = plotting.plot_reconstructions(X, X, n=3)
    assert fig.axes[0].images[0].get_array().shape == (28, 3 * 28 + 2)
    fig = plotting.plot_reconstructions(X, X, n=3, image_shape=(14, 56))
    assert fig.axes[0].images[0].get_array().shape == (14, 3 * 56 + 2)


def test_reconstructions_of_tabular_rows_draw_strips(rng):
    X = rng.standard_normal((6, 30))
    fig = plotting.plot_reconstructions(X, X + 0.1, image_shape=(1, 30))
    assert_not_blank(fig)
    assert fig.axes[0].images[0].get_array().shape == (6, 30)


def test_reconstructions_refuse_mismatched_shapes(images):
    X, X_hat = images
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_reconstructions(X, X_hat[:, :49])


def test_reconstructions_refuse_a_non_square_width_without_image_shape(rng):
    X = rng.random((4, 30))
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_reconstructions(X, X)
    with pytest.raises(ValueError, match="30 features"):
        plotting.plot_reconstructions(X, X, image_shape=(4, 8))


def test_reconstructions_refuse_1d_input(rng):
    with pytest.raises(ValueError, match="2-D"):
        plotting.plot_reconstructions(rng.random(64), rng.random(64))


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_functions_take_backend_arrays(name, images):
    X, X_hat = images
    backend = B.get_backend(name)
    fig = plotting.plot_reconstructions(to_backend(backend, X), to_backend(backend, X_hat), n=4)
    assert_not_blank(fig)
    fig = plotting.plot_latent_scatter(to_backend(backend, X[:, :3]), np.arange(12) % 3)
    assert_not_blank(fig)


def test_samples_grid_wraps_rows(rng):
    fig = plotting.plot_samples(rng.random((10, 64)), n_cols=4)
    assert_not_blank(fig)
    assert fig.axes[0].images[0].get_array().shape == (3 * 8 + 2, 4 * 8 + 3)


def test_samples_refuse_empty_input():
    with pytest.raises(ValueError, match="no rows"):
        plotting.plot_samples(np.zeros((0, 64)))


def test_filters_draw_the_first_n_columns(rng):
    W = rng.standard_normal((64, 20))
    fig = plotting.plot_filters(W, n=9)
    assert_not_blank(fig)
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (3 * 8 + 2, 3 * 8 + 2)
    # each filter is scaled to ±max|w|: the first tile is column 0 over its own max
    np.testing.assert_allclose(mosaic[:8, :8], (W[:, 0] / np.abs(W[:, 0]).max()).reshape(8, 8))


def test_filters_refuse_a_wrong_image_shape(rng):
    with pytest.raises(ValueError, match="64 features"):
        plotting.plot_filters(rng.standard_normal((64, 4)), image_shape=(7, 7))


def test_manifold_grid_decodes_every_grid_point():
    seen = {}

    def decode(Z):
        seen["Z"] = Z
        return 1.0 / (1.0 + np.exp(-(Z[:, :1] * np.linspace(-1, 1, 16) + Z[:, 1:] * np.linspace(1, -1, 16))))

    fig = plotting.plot_manifold_grid(decode, n=5, latent_range=2)
    assert_not_blank(fig)
    assert seen["Z"].shape == (25, 2)
    assert seen["Z"].min() == -2 and seen["Z"].max() == 2
    assert fig.axes[0].images[0].get_array().shape == (5 * 4, 5 * 4)


def test_manifold_grid_refuses_a_decoder_with_the_wrong_row_count():
    with pytest.raises(ValueError, match="one row per code"):
        plotting.plot_manifold_grid(lambda Z: np.zeros((3, 16)), n=4)
    with pytest.raises(TypeError, match="callable"):
        plotting.plot_manifold_grid(np.zeros((4, 2)))


# ----------------------------------------------------------------------------- curves
def test_loss_curves_plain_history_has_one_panel():
    fig = plotting.plot_loss_curves({"loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 1.8]})
    assert_not_blank(fig)
    assert len(fig.axes) == 1
    assert len(fig.axes[0].lines) == 2


def test_loss_curves_put_other_terms_in_a_second_panel():
    history = {"loss": [3.0, 2.0], "val_loss": [3.1, 2.2], "reconstruction": [2.5, 1.7], "kl": [0.5, 0.3],
               "val_reconstruction": [2.6, 1.9], "val_kl": [0.5, 0.3]}
    fig = plotting.plot_loss_curves(history)
    assert_not_blank(fig)
    assert len(fig.axes) == 2
    labels = sorted(line.get_label() for line in fig.axes[1].lines)
    assert labels == ["kl", "reconstruction", "val_kl", "val_reconstruction"]


def test_loss_curves_need_a_loss_entry():
    with pytest.raises(ValueError, match="'loss'"):
        plotting.plot_loss_curves({"val_loss": [1.0]})
    with pytest.raises(TypeError, match="non-empty dict"):
        plotting.plot_loss_curves({})


@pytest.mark.parametrize("k", [1, 2, 5])
def test_latent_scatter_any_code_width(rng, k):
    Z = rng.standard_normal((60, k))
    y = np.repeat(np.arange(3), 20)
    fig = plotting.plot_latent_scatter(Z, y, class_names=["a", "b", "c"])
    assert_not_blank(fig)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["a", "b", "c"]
    assert ("PC1" in fig.axes[0].get_xlabel()) == (k > 2)


def test_latent_scatter_refuses_labels_of_the_wrong_length(rng):
    with pytest.raises(ValueError, match=r"expected shape \(10,\)"):
        plotting.plot_latent_scatter(rng.standard_normal((10, 2)), np.zeros(9))


def test_score_histograms_share_bins(rng):
    fig = plotting.plot_score_histograms({"normal": rng.normal(0, 1, 200), "anomalous": rng.normal(-3, 1, 50)})
    assert_not_blank(fig)
    assert len(fig.axes[0].patches) == 2 * 50


def test_score_histograms_refuse_nan(rng):
    with pytest.raises(ValueError, match="finite"):
        plotting.plot_score_histograms({"a": np.array([1.0, np.nan])})


def test_roc_curves_report_auc_in_the_legend(rng):
    y = np.r_[np.zeros(100), np.ones(100)]
    perfect = y + 0.01 * rng.random(200)
    fig = plotting.plot_roc_curves({"perfect": (y, perfect), "random": (y, rng.random(200))})
    assert_not_blank(fig)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[0] == "perfect (AUC = 1.000)"


def test_roc_curves_refuse_mismatched_shapes(rng):
    with pytest.raises(ValueError, match="differ in shape"):
        plotting.plot_roc_curves({"m": (np.r_[0, 1, 0, 1], rng.random(3))})
    with pytest.raises(ValueError, match="both classes"):
        plotting.plot_roc_curves({"m": (np.ones(4), rng.random(4))})


def test_singular_values_one_spectrum_or_one_per_sample(rng):
    fig = plotting.plot_singular_values({"plain": rng.random((30, 8)) * 5, "contractive": np.array([1.0, 0.1, 0.01])})
    assert_not_blank(fig)
    assert fig.axes[0].get_yscale() == "log"
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), [1.0, 0.1, 0.01])


def test_singular_values_refuse_3d(rng):
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plotting.plot_singular_values({"x": rng.random((2, 2, 2))})


def test_rate_distortion_sorts_points_by_rate():
    fig = plotting.plot_rate_distortion({"ae": ([256, 64, 128], [25.0, 18.0, 21.0]), "pca": ([64, 128], [15.0, 19.0])})
    assert_not_blank(fig)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [64, 128, 256])


def test_rate_distortion_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="must be equal"):
        plotting.plot_rate_distortion({"ae": ([8, 16], [20.0])})


# ---------------------------------------------------------------- plot_model_comparison (the capstones)
def test_model_comparison_draws_every_history_and_one_image_row_per_model(rng):
    X = rng.random((5, 16))
    histories = {"npae": {"loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 1.7]}, "yours": {"loss": [3.0, 2.1, 1.6]}}
    fig = plotting.plot_model_comparison(histories, X, {"npae": X * 0.9, "yours": X * 0.8}, title="yours vs npae")
    loss_ax, image_ax = fig.axes
    assert loss_ax.get_title() == "yours vs npae"
    assert len(loss_ax.get_lines()) == 3  # two curves of npae, one of yours
    assert [t.get_text() for t in image_ax.get_yticklabels()] == ["input", "npae", "yours"]
    mosaic = image_ax.get_images()[0].get_array()
    assert mosaic.shape == (3 * 4 + 2, 5 * 4 + 4)  # three rows of five 4 × 4 images, 1-pixel gutters


def test_model_comparison_refuses_a_reconstruction_of_other_rows(rng):
    X = rng.random((5, 16))
    with pytest.raises(ValueError, match=r"reconstructions\['yours'\] has shape \(4, 16\)"):
        plotting.plot_model_comparison({"yours": {"loss": [1.0]}}, X, {"yours": X[:4]})
    with pytest.raises(ValueError, match="has no 'loss' entry"):
        plotting.plot_model_comparison({"yours": {"val_loss": [1.0]}}, X, {"yours": X})


def test_a_one_epoch_loss_curve_has_the_single_tick_1():
    fig = plotting.plot_loss_curves({"loss": [3.0], "val_loss": [3.1], "kl": [1.0]})
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [1]
    fig = plotting.plot_loss_curves({"loss": [3.0, 2.0, 1.5]})
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
