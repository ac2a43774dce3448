"""DenoisingAutoencoder: gradient checks with a given corruption, a PyTorch twin, corruption only
in fit, the data range, hyperparameter errors, PSNR, and the measured denoising gain."""

import numpy as np
import pytest
from sklearn.base import clone

from npae import backend as B
from npae.gradcheck import check_model
from npae.models.autoencoder import Autoencoder
from npae.models.base import load
from npae.metrics import psnr
from npae.models.denoising import DenoisingAutoencoder
from npae.noise import corrupt


def to_backend(backend, a, dtype="float64"):
    """Host array -> the backend under test, in dtype."""
    return B.asarray(np.asarray(a), dtype=dtype, backend=backend)

KINDS = [("gaussian", 0.3), ("masking", 0.3), ("salt_pepper", 0.2)]


def _small(**kw):
    params = {"hidden_sizes": (5,), "latent_dim": 3, "activation": "tanh", "random_state": 0, "verbose": 0}
    params.update(kw)
    return DenoisingAutoencoder(**params)


def _X(n=7, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d))


def _pair(kind, level, loss="bce", seed=0):
    """Clean X and a corrupted copy (corruption fixed by a seed), float64 host arrays."""
    X = _X(seed=seed)
    if loss == "mse":
        X = 4.0 * X - 1.0
    low, high = (0.0, 1.0) if loss == "bce" else (float(X.min()), float(X.max()))
    return X, corrupt(X, seed + 100, noise=kind, noise_level=level, low=low, high=high)


class _Spy(DenoisingAutoencoder):
    """Records what each training step fed the network and compared it with, through
    ``_forward_backward``, the subclass hook that npae.models.base documents."""

    def _forward_backward(self, X, target=None):
        self.seen_ = getattr(self, "seen_", [])
        self.seen_.append((B.to_numpy(X).copy(), None if target is None else B.to_numpy(target).copy()))
        return super()._forward_backward(X, target=target)


# ---------------------------------------------------------------- gradients and values
@pytest.mark.parametrize("kind, level", KINDS)
@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_loss_with_target_passes_gradient_check(xp, kind, level, loss):
    X, X_noisy = _pair(kind, level, loss)
    assert not np.array_equal(X, X_noisy)
    model = _small(noise=kind, noise_level=level, loss=loss, backend=xp.name)
    result = check_model(model, to_backend(xp, X_noisy), target=to_backend(xp, X))
    assert result.passed, str(result)


def _np_logits(model, X):
    p = {k: B.to_numpy(v).astype("float64") for k, v in model.parameters().items()}
    h = np.tanh(X @ p["encoder.0.W"] + p["encoder.0.b"]) @ p["encoder.1.W"] + p["encoder.1.b"]
    return np.tanh(h @ p["decoder.0.W"] + p["decoder.0.b"]) @ p["decoder.1.W"] + p["decoder.1.b"]


def test_loss_compares_the_reconstruction_of_the_noisy_input_with_the_target():
    X, X_noisy = _pair("masking", 0.3)
    model = _small(noise="masking", noise_level=0.3, dtype="float64")
    loss, _ = model.loss_and_grad(X_noisy, target=X)
    y = _np_logits(model, X_noisy)
    expected = (np.logaddexp(0, y) - X * y).sum(axis=1).mean()
    assert abs(loss - expected) <= 1e-12 * expected
    plain, _ = model.loss_and_grad(X_noisy)
    assert abs(plain - (np.logaddexp(0, y) - X_noisy * y).sum(axis=1).mean()) <= 1e-12 * plain


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_loss_and_gradients_match_a_pytorch_autograd_twin(loss):
    torch = pytest.importorskip("torch")
    X, X_noisy = _pair("gaussian", 0.3, loss, seed=3)
    model = _small(noise="gaussian", noise_level=0.3, loss=loss, dtype="float64")
    value, grads = model.loss_and_grad(X_noisy, target=X)
    p = {k: torch.tensor(B.to_numpy(v), dtype=torch.float64, requires_grad=True)
         for k, v in model.parameters().items()}
    xn, x = torch.tensor(X_noisy), torch.tensor(X)
    h = torch.tanh(xn @ p["encoder.0.W"] + p["encoder.0.b"]) @ p["encoder.1.W"] + p["encoder.1.b"]
    y = torch.tanh(h @ p["decoder.0.W"] + p["decoder.0.b"]) @ p["decoder.1.W"] + p["decoder.1.b"]
    if loss == "bce":
        per_row = torch.nn.functional.binary_cross_entropy_with_logits(y, x, reduction="none").sum(dim=1)
    else:
        per_row = ((y - x) ** 2).sum(dim=1)
    ref = per_row.mean()
    ref.backward()
    assert abs(value - ref.item()) <= 1e-9 * abs(ref.item())
    for name, tensor in p.items():
        a, n = grads[name], tensor.grad.numpy()
        rel = np.linalg.norm(a - n) / (np.linalg.norm(a) + np.linalg.norm(n))
        assert rel < 1e-7, (name, rel)


# ---------------------------------------------------------------- target validation
def test_target_is_validated(xp):
    X, X_noisy = _pair("masking", 0.3)
    model = _small(noise="masking", noise_level=0.3, backend=xp.name, dtype="float64")
    Xn = to_backend(xp, X_noisy)
    with pytest.raises(ValueError, match=r"target must have the shape of X, \(7, 6\); got \(5, 6\)"):
        model.loss_and_grad(Xn, target=to_backend(xp, X[:5]))
    with pytest.raises(ValueError, match="target has 4 features"):
        model.loss_and_grad(Xn, target=to_backend(xp, X[:, :4]))
    bad = X.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="Input target contains NaN"):
        model.loss_and_grad(Xn, target=to_backend(xp, bad))
    with pytest.raises(ValueError, match=r"expects target in \[0, 1\]"):
        model.loss_and_grad(Xn, target=to_backend(xp, 3.0 * X))
    with pytest.raises(TypeError, match="only target="):
        model.loss_and_grad(Xn, eps=to_backend(xp, X))
    loss, grads = model.loss_and_grad(Xn, target=X)  # a host target is moved to the backend
    assert np.isfinite(loss) and set(grads) == set(model.parameters())


def test_target_from_another_backend_is_refused():
    pytest.importorskip("torch")
    X, X_noisy = _pair("masking", 0.3)
    model = _small(noise="masking", noise_level=0.3, backend="numpy")
    with pytest.raises(TypeError, match="target is a torch tensor"):
        model.loss_and_grad(X_noisy, target=B.asarray(X, backend="torch"))


# ---------------------------------------------------------------- hyperparameters
def test_bad_noise_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="Unknown noise 'gausian'; expected one of 'gaussian', 'masking', "
                                         "'salt_pepper'. Did you mean 'gaussian'"):
        _small(noise="gausian").fit(_X())
    with pytest.raises(ValueError, match="Unknown noise 'dropout'; expected one of 'gaussian'"):
        _small(noise="dropout").loss_and_grad(_X())


@pytest.mark.parametrize("kind, level", [("gaussian", 0.0), ("gaussian", -0.1), ("gaussian", float("inf")),
                                         ("masking", 0.0), ("masking", 1.0), ("salt_pepper", 1.5),
                                         ("salt_pepper", -0.2), ("masking", True)])
def test_noise_level_out_of_range_is_refused_before_anything_changes(kind, level):
    model = _small(noise=kind, noise_level=level)
    with pytest.raises(ValueError, match=rf"noise_level .* got {level!r}"):
        model.fit(_X())
    assert not hasattr(model, "n_features_in_") and not hasattr(model, "data_min_")


def test_clone_keeps_the_noise_parameters():
    params = clone(_small(noise="salt_pepper", noise_level=0.15)).get_params()
    assert params["noise"] == "salt_pepper" and params["noise_level"] == 0.15


# ---------------------------------------------------------------- corruption only in fit
@pytest.mark.parametrize("kind, level", KINDS)
def test_fit_corrupts_each_batch_and_targets_the_clean_batch(kind, level):
    X = _X(n=40, d=10, seed=1) * 0.8 + 0.1  # values strictly inside (0, 1)
    model = _Spy(**{**_small().get_params(), "noise": kind, "noise_level": level,
                    "batch_size": 16, "epochs": 2})
    model.fit(X)
    assert len(model.seen_) == 6  # 3 batches per epoch
    host_rows = {tuple(row) for row in X.astype("float32")}
    changed = []
    for X_in, target in model.seen_:
        assert all(tuple(row) in host_rows for row in target)  # the target is clean data
        assert X_in.min() >= 0.0 and X_in.max() <= 1.0  # clipped / replaced inside [0, 1]
        changed.append(np.mean(X_in != target))
    if kind == "gaussian":
        assert min(changed) == 1.0
    else:
        assert abs(np.mean(changed) - level) < 0.1
    assert not np.array_equal(model.seen_[0][0], model.seen_[2][0][: model.seen_[0][0].shape[0]])


def _next_training_step_is_the_untouched_twins(model, twin, Xb):
    """The corruption of the next train_step comes from the model's own stream: equal weights
    after it mean nothing else drew from that stream in between."""
    model.train_step(Xb)
    twin.train_step(Xb)
    for key, value in twin.parameters().items():
        np.testing.assert_array_equal(B.to_numpy(model.parameters()[key]), B.to_numpy(value))


def test_inference_is_deterministic_and_noise_free(xp):
    X = _X(n=20, d=6)
    model = _small(noise="salt_pepper", noise_level=0.3, epochs=2, backend=xp.name).fit(X)
    untouched = clone(model).fit(X)
    Xb = to_backend(xp, X, "float32")
    first = B.to_numpy(model.reconstruct(Xb))
    np.testing.assert_array_equal(B.to_numpy(model.reconstruct(Xb)), first)
    np.testing.assert_array_equal(B.to_numpy(model.denoise(Xb)), first)
    np.testing.assert_array_equal(B.to_numpy(model.transform(Xb)), B.to_numpy(model.transform(Xb)))
    np.testing.assert_array_equal(B.to_numpy(model.score_samples(Xb)), B.to_numpy(model.score_samples(Xb)))
    twin = Autoencoder(**{k: v for k, v in model.get_params().items() if k not in ("noise", "noise_level")})
    twin.loss_and_grad(X)
    twin.set_weights(model.get_weights())
    np.testing.assert_allclose(B.to_numpy(twin.reconstruct(Xb)), first, rtol=1e-6)
    _next_training_step_is_the_untouched_twins(model, untouched, Xb)  # inference drew nothing


@pytest.mark.parametrize("kind, level", KINDS)
def test_same_seed_gives_the_same_training_corruption_on_every_backend(xp, kind, level):
    X = _X(n=20, d=6, seed=2)
    params = {**_small().get_params(), "noise": kind, "noise_level": level, "batch_size": 8,
              "epochs": 1, "dtype": "float64"}
    del params["backend"]
    reference = _Spy(**params, backend="numpy").fit(X).seen_
    other = _Spy(**params, backend=xp.name).fit(X).seen_
    for (ref_in, ref_target), (got_in, got_target) in zip(reference[:2], other[:2]):
        np.testing.assert_array_equal(got_target, ref_target)
        np.testing.assert_array_equal(got_in, ref_in)


def test_same_seed_same_model_and_another_seed_another():
    X = _X(n=30, d=6)
    weights = [B.to_numpy(_small(noise="masking", noise_level=0.3, epochs=2, random_state=s).fit(X)
                          .parameters()["encoder.0.W"]) for s in (5, 5, 6)]
    np.testing.assert_array_equal(weights[0], weights[1])
    assert not np.allclose(weights[0], weights[2])


# ---------------------------------------------------------------- data range
def test_mse_range_is_the_training_data_range_and_bounds_the_corruption():
    X = _X(n=30, d=6) * 5.0 - 2.0
    model = _Spy(**{**_small().get_params(), "loss": "mse", "noise": "gaussian", "noise_level": 3.0,
                    "epochs": 1})
    model.fit(X, validation_data=X * 10.0)
    assert model.data_min_ == pytest.approx(X.min(), rel=1e-6)
    assert model.data_max_ == pytest.approx(X.max(), rel=1e-6)
    assert model.noise_range_ == (model.data_min_, model.data_max_)  # validation data did not widen it
    X_in = model.seen_[0][0]
    assert X_in.min() == pytest.approx(model.data_min_) and X_in.max() == pytest.approx(model.data_max_)
    noisy = model.corrupt(X, random_state=0)
    assert isinstance(noisy, np.ndarray) and noisy.min() >= model.data_min_ and noisy.max() <= model.data_max_


def test_bce_range_is_the_unit_interval_and_partial_fit_widens_data_range():
    model = _small(loss="bce", noise="salt_pepper", noise_level=0.5)
    model.partial_fit(_X(n=10) * 0.5)
    assert model.noise_range_ == (0.0, 1.0)
    first_max = model.data_max_
    model.partial_fit(_X(n=10, seed=1) * 0.9 + 0.1)
    assert model.data_max_ > first_max and model.data_min_ < 0.5
    noisy = model.corrupt(np.full((50, 6), 0.5), random_state=1)
    assert set(np.unique(noisy)) == {0.0, 0.5, 1.0}


def test_refit_resets_the_range_and_a_refused_refit_keeps_it():
    model = _small(loss="mse", noise="salt_pepper", noise_level=0.3, epochs=1)
    model.fit(_X(n=10) * 4.0 - 2.0)
    wide = model.noise_range_
    bad = _X(n=10)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad)
    assert model.noise_range_ == wide
    model.fit(_X(n=10) * 0.5)
    assert model.data_min_ >= 0.0 and model.data_max_ <= 0.5 and model.noise_range_[1] < wide[1]


def test_only_fit_and_partial_fit_record_the_range():
    X = _X(n=12) * 2.0 - 0.5
    model = _small(loss="mse", noise="gaussian", noise_level=0.2, epochs=1).fit(X)
    recorded = (model.data_min_, model.data_max_, model.noise_range_)
    wide = X * 10.0
    model.score_samples(wide)
    model.loss_and_grad(wide)
    model.transform(wide)
    model.corrupt(wide, random_state=0)
    model.fit(X, validation_data=wide)
    assert (model.data_min_, model.data_max_, model.noise_range_) == recorded


def test_the_range_of_a_memory_map_covers_every_row(tmp_path, monkeypatch):
    from npae.models import base

    X = _X(n=23) * 0.2 + 0.4
    X[3, 1], X[21, 4] = 0.0, 1.0  # the extremes in the first and the last row block
    path = tmp_path / "X.npy"
    np.save(path, X)
    monkeypatch.setattr(base, "INFERENCE_CHUNK", 5)  # five row blocks
    model = _small(loss="mse", noise="gaussian", noise_level=0.1, epochs=1, dtype="float64")
    model.fit(np.load(path, mmap_mode="r"))
    assert (model.data_min_, model.data_max_) == (0.0, 1.0) and model.noise_range_ == (0.0, 1.0)


def test_corrupt_can_apply_another_corruption_than_training():
    model = _small(noise="gaussian", noise_level=0.2, epochs=1).fit(_X(n=12))
    noisy = model.corrupt(np.full((100, 6), 0.5), random_state=0, noise="masking", noise_level=0.5)
    assert set(np.unique(noisy)) == {0.0, 0.5}
    assert abs(float(np.mean(noisy == 0.0)) - 0.5) < 0.1


def test_corrupt_is_reproducible_and_leaves_the_model_stream_alone(xp):
    model = _small(noise="masking", noise_level=0.4, epochs=1, backend=xp.name).fit(_X(n=12))
    untouched = clone(model).fit(_X(n=12))
    Xb = to_backend(xp, np.full((40, 6), 0.5), "float32")
    a, b = model.corrupt(Xb, random_state=3), model.corrupt(Xb, random_state=3)
    assert B.backend_of(a).name == xp.name
    np.testing.assert_array_equal(B.to_numpy(a), B.to_numpy(b))
    assert abs(float(np.mean(B.to_numpy(a) == 0.0)) - 0.4) < 0.1
    _next_training_step_is_the_untouched_twins(model, untouched, to_backend(xp, _X(n=12), "float32"))


def test_saved_model_loads_denoises_and_corrupts(tmp_path):
    X = _X(n=20, d=6)
    model = _small(noise="masking", noise_level=0.3, epochs=2).fit(X)
    model.save(tmp_path / "dae.npz")
    loaded = load(tmp_path / "dae.npz")
    assert isinstance(loaded, DenoisingAutoencoder) and loaded.noise == "masking"
    np.testing.assert_array_equal(loaded.denoise(X), model.denoise(X))
    np.testing.assert_array_equal(loaded.corrupt(X, random_state=2), model.corrupt(X, random_state=2))


def _digits_split():
    try:
        from npae.datasets import load_digits

        X, _ = load_digits()
    except ImportError:
        from sklearn.datasets import load_digits

        X = (load_digits().data / 16.0).astype("float32")
    perm = np.random.default_rng(0).permutation(X.shape[0])
    return X[perm[:1400]], X[perm[1400:]]


@pytest.mark.parametrize("kind, level", KINDS)
def test_denoising_beats_the_noisy_input_on_held_out_digits(kind, level):
    X_train, X_test = _digits_split()
    model = DenoisingAutoencoder(hidden_sizes=(64,), latent_dim=32, noise=kind, noise_level=level,
                                 epochs=15, batch_size=64, learning_rate=3e-3, random_state=0, verbose=0)
    model.fit(X_train)
    X_noisy = model.corrupt(X_test, random_state=1)
    noisy_db, denoised_db = psnr(X_test, X_noisy), psnr(X_test, model.denoise(X_noisy))
    assert denoised_db > noisy_db + 2.0, (kind, noisy_db, denoised_db)
