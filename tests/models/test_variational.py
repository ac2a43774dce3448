import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import npae
from npae import backend as B
from npae.gradcheck import check_model, relative_error
from npae.models import base
from npae.models import variational as V
from npae import losses
from npae.models.variational import VAE
from tests.helpers import spec_row_seed, splitmix64



def _normal(seed, shape):
    """What the model draws from ``random_state=seed``: npae's one sampler, in float64."""
    return B.standard_normal(np.random.default_rng(seed), shape, dtype="float64", backend=B.get_backend("numpy"))



def _row_eps(X, seed, s):
    """What the model draws for the rows of X with ``random_state=seed``, rebuilt from the spec of
    ``RowStreams`` one row at a time: row n's stream is SplitMix64 seeded by ``_row_seed``, uniform
    i = (output i ≫ 11)·2⁻⁵³; draw j takes uniforms j·W … (j + 1)·W − 1, W = K + K % 2, as Box–Muller
    pairs (u₁, u₂) -> √(−2 log(1 − u₁))·(cos 2πu₂, sin 2πu₂). Returns eps of shape (s, N, K)."""
    key, width = V._scoring_key(seed), K + K % 2
    rows = []
    for row in np.asarray(X, dtype="float64"):
        stream = spec_row_seed(np.asarray(row, dtype='<f8'), key)
        u = np.array([(splitmix64(stream, i) >> 11) * 2.0**-53 for i in range(s * width)]).reshape(-1, 2)
        r, theta = np.sqrt(-2.0 * np.log1p(-u[:, 0])), 2.0 * np.pi * u[:, 1]
        rows.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).reshape(s, width)[:, :K])
    return np.stack(rows, axis=1)


def _normal_from(generator, shape):
    return B.standard_normal(generator, shape, dtype="float64", backend=B.get_backend("numpy"))


def to_backend(backend, a, dtype="float64"):
    """Host array -> the backend under test, in dtype."""
    return B.asarray(np.asarray(a), dtype=dtype, backend=backend)

N, D, K = 12, 8, 3


@pytest.fixture
def data(rng):
    return rng.random((N, D))


@pytest.fixture
def eps(rng):
    return np.random.default_rng(123).standard_normal((N, K))


def small(**kw):
    params = {
        "hidden_sizes": (7,),
        "latent_dim": K,
        "activation": "tanh",
        "epochs": 3,
        "batch_size": 8,
        "random_state": 0,
        "verbose": 0,
        "dtype": "float64",
    }
    params.update(kw)
    return VAE(**params)


def host_logsumexp(a, axis=0):
    m = a.max(axis=axis, keepdims=True)
    return (np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


# ---------------------------------------------------------------- structure
def test_parameter_names_and_shapes(data):
    vae = small(hidden_sizes=(7, 5)).fit(data)
    shapes = {k: tuple(v.shape) for k, v in vae.parameters().items()}
    assert shapes == {
        "encoder.0.W": (D, 7),
        "encoder.0.b": (7,),
        "encoder.1.W": (7, 5),
        "encoder.1.b": (5,),
        "encoder.mu.W": (5, K),
        "encoder.mu.b": (K,),
        "encoder.logvar.W": (5, K),
        "encoder.logvar.b": (K,),
        "decoder.0.W": (K, 5),
        "decoder.0.b": (5,),
        "decoder.1.W": (5, 7),
        "decoder.1.b": (7,),
        "decoder.2.W": (7, D),
        "decoder.2.b": (D,),
    }


def test_init_only_stores_hyperparameters_and_clone_works():
    vae = VAE(hidden_sizes=(5,), likelihood="not-checked-yet", beta=4.0)
    assert vae.get_params()["likelihood"] == "not-checked-yet"
    assert not hasattr(vae, "encoder_")
    assert clone(vae).get_params() == vae.get_params()


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize(
    "likelihood, hidden, activation, beta, sigma",
    [
        ("bernoulli", (7,), "tanh", 1.0, 1.0),
        ("gaussian", (7,), "softplus", 1.0, 0.7),
        ("bernoulli", (6, 5), "softplus", 2.5, 1.0),
        ("gaussian", (6, 5), "tanh", 0.3, 1.3),
    ],
)
def test_full_loss_passes_gradcheck_with_injected_eps(xp, data, eps, likelihood, hidden, activation, beta, sigma):
    vae = small(
        hidden_sizes=hidden, activation=activation, likelihood=likelihood, beta=beta, sigma=sigma, backend=xp.name
    )
    result = check_model(vae, data, eps=eps)
    assert result.passed, str(result)
    assert len(result.errors) == 2 * len(hidden) + 4 + 2 * (len(hidden) + 1)  # encoder, heads, decoder


def test_gradcheck_catches_a_wrong_reparameterization_backward(monkeypatch, data, eps):
    def dropped_half(dz, log_var, eps):  # dlog_var = dz·std·eps: the factor ½ forgotten
        return dz, dz * np.exp(0.5 * log_var) * eps

    monkeypatch.setattr(V, "reparameterize_grad", dropped_half)
    result = check_model(small(), data, eps=eps)
    assert not result.passed
    assert result.errors["encoder.logvar.W"] > 1e-3 and result.errors["encoder.mu.W"] < 1e-6


def test_loss_without_eps_draws_from_the_seed_identically_on_every_backend(xp, data):
    ref_loss, ref_grads = small(backend="numpy").loss_and_grad(data)
    loss, grads = small(backend=xp.name).loss_and_grad(data)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name, g in grads.items():
        assert relative_error(g, ref_grads[name]) < 1e-12, name
    other, _ = small(random_state=1).loss_and_grad(data)
    assert other != pytest.approx(ref_loss, rel=1e-6)


def test_training_on_every_backend_agrees_with_numpy(xp, data):
    ref = small(backend="numpy", kl_warmup_epochs=2).fit(data, validation_data=data)
    vae = small(backend=xp.name, kl_warmup_epochs=2).fit(data, validation_data=data)
    for key in ("loss", "kl", "val_loss", "val_kl"):
        np.testing.assert_allclose(vae.history_[key], ref.history_[key], rtol=1e-10)
    np.testing.assert_allclose(
        B.to_numpy(vae.elbo(to_backend(xp, data), random_state=4)), ref.elbo(data, random_state=4), rtol=1e-10
    )


# ---------------------------------------------------------------- the clamp
def test_clamp_bounds_and_its_gradient(xp):
    raw = to_backend(xp, [[-40.0, -30.0, 0.5, 20.0, 25.0]])
    assert B.to_numpy(V.clamp_log_var(raw)).tolist() == [[-30.0, -30.0, 0.5, 20.0, 20.0]]
    g = V.clamp_log_var_grad(to_backend(xp, [[1.0, 2.0, 3.0, 4.0, 5.0]]), raw)
    assert B.to_numpy(g).tolist() == [[0.0, 2.0, 3.0, 4.0, 0.0]]
    assert (V.LOG_VAR_MIN, V.LOG_VAR_MAX) == (-30.0, 20.0)


def test_logvar_driven_below_the_clamp_gets_zero_gradient_and_checks_pass(xp, data, eps):
    vae = small(backend=xp.name)
    vae.loss_and_grad(data)  # build
    b = B.to_numpy(vae.parameters()["encoder.logvar.b"]).copy()
    b[0] = -60.0  # |h @ W| ≤ Σ|W| < 10 with tanh hidden units, so raw[:, 0] < −50
    vae.parameters()["encoder.logvar.b"][...] = to_backend(xp, b)
    loss, grads = vae.loss_and_grad(data, eps=eps)
    assert math.isfinite(loss)
    gW, gb = B.to_numpy(grads["encoder.logvar.W"]), B.to_numpy(grads["encoder.logvar.b"])
    assert np.all(gW[:, 0] == 0.0) and gb[0] == 0.0
    assert np.all(gW[:, 1:] != 0.0)
    result = check_model(vae, data, eps=eps)
    assert result.passed, str(result)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logvar_driven_above_the_clamp_keeps_the_loss_finite(data, eps, dtype):
    vae = small(dtype=dtype)
    vae.loss_and_grad(data)
    vae.parameters()["encoder.logvar.b"][0] = 1000.0  # exp(1000) overflows in both dtypes
    loss, grads = vae.loss_and_grad(data, eps=eps)
    assert math.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert np.all(grads["encoder.logvar.W"][:, 0] == 0.0) and grads["encoder.logvar.b"][0] == 0.0
    # the KL of that unit uses log_var = 20: ½(e^20 − 1 − 20 + mu²) per row dominates the loss
    assert loss > 0.5 * (math.exp(20.0) - 21.0) * (1.0 - 1e-6)  # float32 rounding


# ---------------------------------------------------------------- sampler and KL
def test_sampler_mean_and_variance_match_mu_and_exp_log_var(xp):
    M = 20000
    mu_row, lv_row = np.array([0.5, -2.0, 3.0]), np.array([-1.0, 0.5, 2.0])
    mu = to_backend(xp, np.tile(mu_row, (M, 1)))
    log_var = to_backend(xp, np.tile(lv_row, (M, 1)))
    z, eps = V.reparameterize(mu, log_var, random_state=0)
    z = B.to_numpy(z)
    var = np.exp(lv_row)
    assert np.all(np.abs(z.mean(0) - mu_row) < 4 * np.sqrt(var / M))
    assert np.all(np.abs(z.var(0, ddof=1) - var) < 4 * var * np.sqrt(2.0 / (M - 1)))
    # the noise is the seed's host stream, identical on every backend
    np.testing.assert_array_equal(B.to_numpy(eps), _normal(0, (M, 3)))


def test_kl_is_the_one_in_losses_and_stays_importable_from_the_model_module():
    # the closed form, its gradient and their checks live in tests/test_losses.py
    assert V.gaussian_kl is losses.gaussian_kl and V.gaussian_kl_grad is losses.gaussian_kl_grad
    assert {"gaussian_kl", "gaussian_kl_grad", "LIKELIHOODS"} <= set(V.__all__)
    assert V.LIKELIHOODS == ("bernoulli", "gaussian")


@pytest.mark.parametrize("likelihood, sigma, cls", [("bernoulli", 1.0, losses.BernoulliNLL),
                                                    ("gaussian", 0.4, losses.GaussianNLL)])
def test_the_likelihood_object_is_chosen_once_and_scores_the_decoder_output(data, likelihood, sigma, cls):
    vae = small(likelihood=likelihood, sigma=sigma).fit(data)
    assert type(vae.likelihood_) is cls
    if likelihood == "gaussian":
        assert vae.likelihood_.sigma == sigma
    Z = _normal(0, (5, K))
    P = vae.parameters()
    y = np.tanh(Z @ P["decoder.0.W"] + P["decoder.0.b"]) @ P["decoder.1.W"] + P["decoder.1.b"]
    np.testing.assert_allclose(vae.inverse_transform(Z), vae.likelihood_.output(y), rtol=1e-12)
    # the ELBO's reconstruction term is the likelihood object's value on the sampled decoder output
    E = _row_eps(data, 7, 1)[0]
    h = np.tanh(data @ P["encoder.0.W"] + P["encoder.0.b"])
    mu, lv = h @ P["encoder.mu.W"] + P["encoder.mu.b"], h @ P["encoder.logvar.W"] + P["encoder.logvar.b"]
    z = mu + np.exp(0.5 * lv) * E
    y = np.tanh(z @ P["decoder.0.W"] + P["decoder.0.b"]) @ P["decoder.1.W"] + P["decoder.1.b"]
    expected = -(vae.likelihood_.value(data, y) + losses.gaussian_kl(mu, lv))
    np.testing.assert_allclose(vae.elbo(data, random_state=7), expected, rtol=1e-12)


# ---------------------------------------------------------------- ELBO and IWAE
@pytest.fixture(scope="module")
def trained():
    X, _ = npae.datasets.load_digits()
    X = X[:400]
    vae = VAE(
        hidden_sizes=(32,),
        latent_dim=4,
        activation="tanh",
        epochs=15,
        batch_size=32,
        learning_rate=3e-3,
        random_state=0,
        verbose=0,
        dtype="float64",
    ).fit(X)
    return vae, X[:60]


def test_elbo_is_minus_the_loss_at_beta_one_with_the_same_eps(data):
    vae = small().fit(data)
    E = _row_eps(data, 7, 1)[0]
    loss, _ = vae.loss_and_grad(data, eps=E)
    assert -vae.elbo(data, random_state=7).mean() == pytest.approx(loss, rel=1e-12)
    assert vae.score_samples(data).shape == (N,)
    assert vae.score(data) == pytest.approx(vae.elbo(data, random_state=0).mean(), rel=0.5)


def test_log_weights_match_an_independent_numpy_computation(data, monkeypatch):
    vae = small(hidden_sizes=(6, 5), likelihood="gaussian", sigma=0.8).fit(data)
    P, k = vae.parameters(), 5
    h = np.tanh(np.tanh(data @ P["encoder.0.W"] + P["encoder.0.b"]) @ P["encoder.1.W"] + P["encoder.1.b"])
    mu, lv = h @ P["encoder.mu.W"] + P["encoder.mu.b"], h @ P["encoder.logvar.W"] + P["encoder.logvar.b"]
    e = _row_eps(data, 9, k)
    z = mu + np.exp(0.5 * lv) * e
    y = np.tanh(np.tanh(z @ P["decoder.0.W"] + P["decoder.0.b"]) @ P["decoder.1.W"] + P["decoder.1.b"])
    y = y @ P["decoder.2.W"] + P["decoder.2.b"]
    sigma = 0.8
    log_px = (-0.5 * (data - y) ** 2 / sigma**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum(-1)
    log_pz = (-0.5 * (np.log(2 * np.pi) + z**2)).sum(-1)
    log_q = (-0.5 * (np.log(2 * np.pi) + lv + e**2)).sum(-1)
    expected = log_px + log_pz - log_q
    np.testing.assert_allclose(vae.log_importance_weights(data, k=k, random_state=9), expected, rtol=1e-12)
    np.testing.assert_allclose(
        vae.log_likelihood(data, k=k, random_state=9), host_logsumexp(expected) - np.log(k), rtol=1e-12
    )
    monkeypatch.setattr(V, "IWAE_CHUNK_ROWS", 7)  # one sample per decoder pass: same stream, same numbers
    np.testing.assert_allclose(
        vae.log_likelihood(data, k=k, random_state=9), host_logsumexp(expected) - np.log(k), rtol=1e-12
    )


def test_iwae_estimate_is_at_least_the_mean_log_weight_for_fixed_eps(trained):
    vae, X = trained
    lw = vae.log_importance_weights(X, k=50, random_state=5)
    ll = vae.log_likelihood(X, k=50, random_state=5)
    assert lw.shape == (50, X.shape[0]) and ll.shape == (X.shape[0],)
    np.testing.assert_allclose(ll, host_logsumexp(lw) - np.log(50), rtol=1e-12)
    assert np.all(ll >= lw.mean(0))


def test_iwae_at_k1_matches_the_elbo_in_expectation(trained):
    vae, X = trained
    X, R = X[:10], 400  # a row draws the same eps wherever it stands: repeat with other keys
    ll = np.stack([vae.log_likelihood(X, k=1, random_state=r) for r in range(R)])
    el = np.stack([vae.elbo(X, random_state=R + r) for r in range(R)])
    se = np.sqrt(ll.var(0, ddof=1) / R + el.var(0, ddof=1) / R)
    assert np.all(np.abs(ll.mean(0) - el.mean(0)) < 4 * se)


def test_iwae_estimate_rises_with_k_on_a_trained_model(trained):
    vae, X = trained
    means = [vae.log_likelihood(X, k=k, random_state=3).mean() for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2]
    assert means[2] - means[0] > 0.05  # nats per sample (0.16 measured): a real gap, not rounding


# ---------------------------------------------------------------- training and warm-up
def test_kl_warmup_schedule_and_first_epoch_excludes_kl(data):
    vae = small(beta=2.0, kl_warmup_epochs=3, epochs=5).fit(data)
    h = vae.history_
    np.testing.assert_allclose(h["beta"], [0.0, 2 / 3, 4 / 3, 2.0, 2.0], rtol=1e-15)
    assert h["kl"][0] > 0.01
    assert h["loss"][0] == h["reconstruction"][0]
    for e in range(5):
        assert h["loss"][e] == pytest.approx(h["reconstruction"][e] + h["beta"][e] * h["kl"][e], rel=1e-10)
    # the first epoch's gradient has no KL term either: it trains exactly like beta=0
    warm = small(beta=2.0, kl_warmup_epochs=3, epochs=1).fit(data)
    plain = small(beta=0.0, epochs=1).fit(data)
    for name, value in warm.parameters().items():
        np.testing.assert_array_equal(value, plain.parameters()[name])
    no_warm = small(beta=2.0, epochs=1).fit(data)
    assert not np.array_equal(no_warm.parameters()["encoder.0.W"], plain.parameters()["encoder.0.W"])


def test_warm_start_continues_the_warmup(data):
    vae = small(kl_warmup_epochs=2, epochs=1, warm_start=True).fit(data)
    vae.fit(data)
    vae.fit(data)
    assert vae.history_["beta"] == [0.0, 0.5, 1.0]


def test_fit_lowers_the_loss_and_reports_terms(trained):
    vae, _ = trained
    h = vae.history_
    assert set(h) == {"loss", "reconstruction", "kl", "beta"}
    assert h["loss"][-1] < 0.9 * h["loss"][0]


def test_validation_terms_are_recorded(data):
    vae = small(epochs=2).fit(data, validation_data=data[:5])
    assert {"val_loss", "val_reconstruction", "val_kl"} <= set(vae.history_)
    assert all(len(v) == 2 for v in vae.history_.values())


def test_float32_stays_float32(data):
    vae = small(dtype="float32").fit(data)
    assert all(v.dtype == np.float32 for v in vae.parameters().values())
    assert vae.transform(data).dtype == np.float32 and vae.elbo(data).dtype == np.float32
    assert vae.sample(4).dtype == np.float32


# ---------------------------------------------------------------- inference
def test_transform_is_mu_and_inverse_transform_decodes_probabilities(data):
    vae = small(hidden_sizes=()).fit(data)
    P = vae.parameters()
    np.testing.assert_allclose(vae.transform(data), data @ P["encoder.mu.W"] + P["encoder.mu.b"], rtol=1e-12)
    Z = np.random.default_rng(0).standard_normal((5, K))
    logits = Z @ P["decoder.0.W"] + P["decoder.0.b"]
    np.testing.assert_allclose(vae.inverse_transform(Z), 1.0 / (1.0 + np.exp(-logits)), rtol=1e-12)
    np.testing.assert_array_equal(vae.encode(data), vae.transform(data))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_sample_shape_range_and_seed(data, likelihood):
    vae = small(likelihood=likelihood).fit(data)
    S = vae.sample(30, random_state=2)
    assert S.shape == (30, D) and isinstance(S, np.ndarray)
    if likelihood == "bernoulli":
        assert S.min() >= 0.0 and S.max() <= 1.0
    np.testing.assert_array_equal(S, vae.sample(30, random_state=2))
    np.testing.assert_allclose(S, vae.inverse_transform(_normal(2, (30, K))), rtol=1e-12)
    # inference draws from the model's own inference stream, afresh on every call (a value)
    np.testing.assert_array_equal(vae.sample(30), vae.sample(30))
    assert not np.array_equal(vae.sample(30), S) and not np.array_equal(vae.sample(30, random_state=3), S)


# ---------------------------------------------------------------- inference randomness
def _weights(model):
    return {k: np.array(v) for k, v in model.parameters().items()}


def test_scoring_between_fits_does_not_change_later_training(data):
    """Inference draws from its own stream: the training generator is untouched."""
    scored, untouched = small(), small()
    scored.fit(data)
    untouched.fit(data)
    scored.score_samples(data)
    scored.elbo(data)
    scored.log_likelihood(data, k=3)
    scored.sample(4)
    scored.score(data)
    scored.partial_fit(data)
    untouched.partial_fit(data)
    for name, value in _weights(untouched).items():
        np.testing.assert_array_equal(_weights(scored)[name], value, err_msg=name)
    scored.set_params(warm_start=True, epochs=1).fit(data)
    untouched.set_params(warm_start=True, epochs=1).fit(data)
    for name, value in _weights(untouched).items():
        np.testing.assert_array_equal(_weights(scored)[name], value, err_msg=name)


def test_inference_is_a_function_of_the_fitted_model(data):
    """The same call gives the same numbers; two models of one seed agree; the inference stream
    is not the training stream; an explicit random_state still gives other draws."""
    vae = small().fit(data)
    first = vae.score_samples(data)
    np.testing.assert_array_equal(vae.score_samples(data), first)
    np.testing.assert_array_equal(small().fit(data).score_samples(data), first)
    assert not np.array_equal(vae.elbo(data, random_state=0), first)
    np.testing.assert_array_equal(vae.log_likelihood(data, k=4), vae.log_likelihood(data, k=4))
    assert not np.array_equal(small(random_state=1).fit(data).score_samples(data), first)
    generator = small(random_state=np.random.default_rng(5)).fit(data)
    again = small(random_state=np.random.default_rng(5)).fit(data)
    np.testing.assert_array_equal(generator.score_samples(data), again.score_samples(data))


def test_threads_scoring_one_model_get_what_one_thread_gets(data):
    from concurrent.futures import ThreadPoolExecutor

    vae = small().fit(data)
    want = vae.score_samples(data)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: vae.score_samples(data), range(16)))
    for got in results:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("random_state", [0, None, "generator"])
def test_a_loaded_model_scores_as_the_saved_one(data, tmp_path, random_state):
    """The inference seed is saved: with random_state None or a Generator it is not derivable from
    the saved hyperparameters (a Generator is saved as None)."""
    seed = np.random.default_rng(3) if random_state == "generator" else random_state
    vae = small().set_params(random_state=seed).fit(data)
    vae.save(tmp_path / "vae.npz")
    loaded = base.load(tmp_path / "vae.npz")
    np.testing.assert_array_equal(loaded.score_samples(data), vae.score_samples(data))
    np.testing.assert_array_equal(loaded.sample(3), vae.sample(3))
    np.testing.assert_array_equal(loaded.log_likelihood(data[:5], k=4), vae.log_likelihood(data[:5], k=4))


def test_a_rows_score_depends_only_on_the_row_and_the_model(xp, data):
    """scikit-learn's sample-order and subset invariance: the same value in any order, alone, in
    a subset, or repeated; it used to depend on the row's position (one eps block per call)."""
    vae = small().fit(to_backend(xp, data))
    X = to_backend(xp, data)
    perm = np.random.default_rng(1).permutation(N)
    idx = [5, 0, 5, 5, 11]
    scorers = {
        "score_samples": vae.score_samples,
        "elbo(random_state=3)": lambda x: vae.elbo(x, random_state=3),
        "log_likelihood": lambda x: vae.log_likelihood(x, k=5),
        "log_importance_weights": lambda x: vae.log_importance_weights(x, k=5, random_state=4).T,
    }
    for name, score in scorers.items():
        full = B.to_numpy(score(X))
        for rows in (perm, idx, [5], list(range(3, 7))):
            got = B.to_numpy(score(to_backend(xp, data[rows])))
            np.testing.assert_allclose(got, full[rows], rtol=1e-12, atol=0, err_msg=f"{name} of rows {rows}")


def test_equal_rows_score_alike_and_other_rows_draw_other_noise(data):
    vae = small().fit(data)
    signed_zero = data.copy()
    signed_zero[2, 3] = 0.0
    negative_zero = signed_zero.copy()
    negative_zero[2, 3] = -0.0  # equal as numbers, other bytes
    np.testing.assert_array_equal(vae.score_samples(negative_zero), vae.score_samples(signed_zero))
    nudged = data.copy()
    nudged[0, 0] = np.nextafter(nudged[0, 0], 2.0)  # one ulp: the ELBO barely moves, the noise does
    assert abs(vae.score_samples(nudged)[0] - vae.score_samples(data)[0]) > 1e-6


def test_row_streams_draw_independent_standard_normals_per_row():
    rows = np.random.default_rng(0).random((3000, 4))
    like = np.zeros((3000, 5))
    eps = B.to_numpy(V.RowStreams(rows, b"k" * 16).standard_normal(2, like=like))  # (2, 3000, 5)
    se = 1.0 / np.sqrt(eps.size)
    assert abs(eps.mean()) < 5 * se and abs(eps.var() - 1.0) < 5 * np.sqrt(2.0) * se
    between_rows = np.corrcoef(eps[0, :-1, 0], eps[0, 1:, 0])[0, 1]
    between_samples = np.corrcoef(eps[0, :, 0], eps[1, :, 0])[0, 1]
    assert abs(between_rows) < 5 / np.sqrt(3000) and abs(between_samples) < 5 / np.sqrt(3000)
    other_key = B.to_numpy(V.RowStreams(rows, b"j" * 16).standard_normal(2, like=like))
    assert abs(np.corrcoef(eps.ravel(), other_key.ravel())[0, 1]) < 5 / np.sqrt(eps.size)


@pytest.mark.parametrize("chunk_rows", [1, 4, 7])
def test_a_rows_importance_samples_do_not_depend_on_how_the_draws_are_split(data, monkeypatch, chunk_rows):
    """K = 3 is odd: each draw takes whole Box–Muller pairs, so splitting a row's samples across
    decoder passes (IWAE_CHUNK_ROWS) does not shift its stream."""
    vae = small().fit(data)
    want = vae.log_importance_weights(data, k=5, random_state=2)
    monkeypatch.setattr(V, "IWAE_CHUNK_ROWS", chunk_rows)
    np.testing.assert_allclose(vae.log_importance_weights(data, k=5, random_state=2), want, rtol=1e-12)
    np.testing.assert_allclose(vae.log_likelihood(data, k=5, random_state=2),
                               host_logsumexp(want) - np.log(5), rtol=1e-12)


def test_save_load_round_trip(xp, data, tmp_path):
    vae = small(backend=xp.name, hidden_sizes=(6, 5), likelihood="gaussian", beta=0.5).fit(data)
    path = tmp_path / "vae.npz"
    vae.save(path)
    loaded = base.load(path)
    assert type(loaded) is VAE and loaded.get_params() == vae.get_params()
    Xb = to_backend(xp, data)
    np.testing.assert_array_equal(B.to_numpy(loaded.transform(Xb)), B.to_numpy(vae.transform(Xb)))
    np.testing.assert_array_equal(B.to_numpy(loaded.elbo(Xb, random_state=1)), B.to_numpy(vae.elbo(Xb, random_state=1)))
    assert loaded.history_ == vae.history_
    on_numpy = base.load(path, backend="numpy")
    np.testing.assert_allclose(on_numpy.transform(data), B.to_numpy(vae.transform(Xb)), rtol=1e-12)


# ---------------------------------------------------------------- PyTorch autograd twin
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_and_grad_match_pytorch_autograd(data, eps, likelihood):
    torch = pytest.importorskip("torch")
    vae = small(hidden_sizes=(7, 5), likelihood=likelihood, beta=1.5, sigma=0.6)
    vae.loss_and_grad(data)
    vae.parameters()["encoder.logvar.b"][1] = -45.0  # one unit clamped: its gradient must be zero in both
    value, grads = vae.loss_and_grad(data, eps=eps)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in vae.parameters().items()}
    x, e = torch.tensor(data), torch.tensor(eps)
    h = torch.tanh(torch.tanh(x @ P["encoder.0.W"] + P["encoder.0.b"]) @ P["encoder.1.W"] + P["encoder.1.b"])
    mu = h @ P["encoder.mu.W"] + P["encoder.mu.b"]
    log_var = torch.clamp(h @ P["encoder.logvar.W"] + P["encoder.logvar.b"], -30.0, 20.0)
    z = mu + torch.exp(0.5 * log_var) * e
    y = torch.tanh(torch.tanh(z @ P["decoder.0.W"] + P["decoder.0.b"]) @ P["decoder.1.W"] + P["decoder.1.b"])
    y = y @ P["decoder.2.W"] + P["decoder.2.b"]
    if likelihood == "bernoulli":
        nll = torch.nn.functional.binary_cross_entropy_with_logits(y, x, reduction="none").sum(1)
    else:
        nll = -torch.distributions.Normal(y, 0.6).log_prob(x).sum(1)
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, torch.exp(0.5 * log_var)), torch.distributions.Normal(0.0, 1.0)
    ).sum(1)
    ref = (nll + 1.5 * kl).mean()
    ref.backward()
    assert math.isclose(value, ref.item(), rel_tol=1e-9)
    for name, g in grads.items():
        assert relative_error(g, P[name].grad.numpy()) < 1e-7, name
    assert np.all(grads["encoder.logvar.W"][:, 1] == 0.0)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kw, match",
    [
        (
            {"likelihood": "bernouli"},
            r"Unknown likelihood 'bernouli'; expected one of 'bernoulli', 'gaussian'\. Did you mean 'bernoulli'\?",
        ),
        ({"sigma": 0.0}, "sigma must be a positive finite number; got 0.0"),
        ({"beta": -1.0}, "beta must be a non-negative finite number; got -1.0"),
        ({"kl_warmup_epochs": -1}, "kl_warmup_epochs must be a non-negative integer; got -1"),
        ({"kl_warmup_epochs": 1.5}, "kl_warmup_epochs must be a non-negative integer; got 1.5"),
        ({"activation": "rleu"}, "activation"),
    ],
)
def test_bad_hyperparameters_are_refused(data, kw, match):
    with pytest.raises(ValueError, match=match):
        small(**kw).fit(data)


def test_bernoulli_refuses_x_outside_unit_interval_and_gaussian_accepts_it(data):
    X = data.copy()
    X[0, 0], X[1, 1] = -0.5, 255.0
    msg = (
        r"VAE with likelihood='bernoulli' expects X in \[0, 1\]; got min=-0.5, max=255\. "
        r"Scale it first, e\.g\. X / 255\.0"
    )
    with pytest.raises(ValueError, match=msg):
        small().fit(X)
    fitted = small().fit(data)
    with pytest.raises(ValueError, match=msg):
        fitted.elbo(X)
    with pytest.raises(ValueError, match=msg):
        fitted.log_likelihood(X, k=2)
    assert np.all(np.isfinite(small(likelihood="gaussian").fit(X).elbo(X)))


def test_bad_eps_gives_clear_errors(data):
    vae = small()
    with pytest.raises(ValueError, match=r"eps must have shape \(N, K\) = \(12, 3\).*got shape \(12, 2\)"):
        vae.loss_and_grad(data, eps=np.zeros((N, 2)))
    with pytest.raises(ValueError, match=r"eps must have shape \(N, K\) = \(12, 3\).*got shape \(5, 3\)"):
        vae.loss_and_grad(data, eps=np.zeros((5, K)))
    with pytest.raises(TypeError, match="eps has boolean dtype"):
        vae.loss_and_grad(data, eps=np.zeros((N, K), dtype=bool))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        vae.loss_and_grad(data, eps=np.zeros(N))
    bad = np.zeros((N, K))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="Input eps contains NaN"):
        vae.loss_and_grad(data, eps=bad)
    with pytest.raises(TypeError, match=r"unexpected arguments \['target'\]"):
        vae.loss_and_grad(data, target=data)


def test_unfitted_and_bad_arguments(data):
    vae = small()
    for call in (lambda: vae.sample(3), lambda: vae.elbo(data), lambda: vae.log_likelihood(data)):
        with pytest.raises(NotFittedError, match="This VAE instance is not fitted yet"):
            call()
    vae.fit(data)
    with pytest.raises(ValueError, match="n_samples must be a positive integer; got 0"):
        vae.sample(0)
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        vae.log_likelihood(data, k=0)
    with pytest.raises(ValueError, match="X has 5 features, but VAE is expecting 8 features"):
        vae.elbo(data[:, :5])


def test_memory_mapped_input_streams_through_every_method(data, tmp_path, monkeypatch):
    vae = small().fit(data)
    path = tmp_path / "X.npy"
    np.save(path, data)
    X_map = np.load(path, mmap_mode="r")
    monkeypatch.setattr(base, "INFERENCE_CHUNK", 5)  # several row blocks
    np.testing.assert_allclose(vae.transform(X_map), vae.transform(data), rtol=1e-12)
    np.testing.assert_allclose(vae.elbo(X_map, random_state=3), vae.elbo(data, random_state=3), rtol=1e-12)
    lw = vae.log_importance_weights(X_map, k=4, random_state=3)
    assert lw.shape == (4, N)
    np.testing.assert_allclose(
        vae.log_likelihood(X_map, k=4, random_state=3), host_logsumexp(lw) - np.log(4), rtol=1e-12
    )
    loss, _ = vae.loss_and_grad(X_map, eps=np.zeros((N, K)))
    assert loss == pytest.approx(vae.loss_and_grad(data, eps=np.zeros((N, K)))[0], rel=1e-12)
    assert math.isfinite(small(epochs=1).fit(X_map, validation_data=X_map).history_["val_loss"][0])


# ---------------------------------------------------------------- log_likelihood memory (issue 15, item 14)
def test_log_likelihood_streams_the_samples_in_bounded_memory():
    import tracemalloc

    X = np.random.default_rng(0).random((100, D))
    vae = small(dtype="float64", epochs=1).fit(X)
    k = 40_000  # all (k, N) log-weights at once would be 32 MB of float64
    vae.log_likelihood(X, k=2, random_state=0)
    tracemalloc.start()
    try:
        log_p = vae.log_likelihood(X, k=k, random_state=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB"
    assert log_p.shape == (100,) and np.all(np.isfinite(log_p))


@pytest.mark.parametrize("chunk_rows", [1, 25, 10_000])
def test_streamed_log_likelihood_equals_the_logsumexp_of_all_weights(data, monkeypatch, chunk_rows):
    monkeypatch.setattr(V, "IWAE_CHUNK_ROWS", chunk_rows)
    vae = small(dtype="float64").fit(data)
    k = 37
    log_w = vae.log_importance_weights(data, k=k, random_state=3)
    top = log_w.max(axis=0)
    expected = top + np.log(np.exp(log_w - top).sum(axis=0)) - math.log(k)
    np.testing.assert_allclose(vae.log_likelihood(data, k=k, random_state=3), expected, rtol=0, atol=1e-12)
