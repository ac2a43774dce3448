"""npae.exercises.assemble: an npae model built from a learner's functions trains to npae's numbers,
names the first wrong function, and refuses unknown names and models."""

import math
import pickle

import numpy as np
import pytest
from array_api_compat import array_namespace
from sklearn.base import clone

import npae
import npae.exercises as ex
from npae import kernels
from npae.exercises.assemble import MODEL_EXERCISES, MODELS, LearnerFunctionError, LearnerFunctionWarning


# ---------------------------------------------------------------------- a learner's correct answers
def dense_forward(x, W, b):
    return x @ W + b


def dense_backward(x, W, b, grad_out):
    xp = array_namespace(x)
    return grad_out @ W.T, x.T @ grad_out, xp.sum(grad_out, axis=0)


def dense_activation_backward(x, W, b, grad_out, activation):
    g = grad_out * activation.df(x @ W + b)
    return dense_backward(x, W, b, g)


def _sigmoid(z):
    xp = array_namespace(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(z):
    s = _sigmoid(z)
    return s * (1.0 - s)


def tanh_derivative(z):
    t = array_namespace(z).tanh(z)
    return 1.0 - t * t


def relu_derivative(z):
    xp = array_namespace(z)
    return xp.astype(z > 0, z.dtype)


def sigmoid_second_derivative(z):
    s = _sigmoid(z)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def tanh_second_derivative(z):
    t = array_namespace(z).tanh(z)
    return -2.0 * t * (1.0 - t * t)


def mse_grad(x, x_hat):
    return 2.0 * (x_hat - x)


def bce_with_logits(x, logits):
    xp = array_namespace(x)
    return xp.sum(xp.logaddexp(0.0, logits) - x * logits, axis=1)


def bce_with_logits_grad(x, logits):
    return _sigmoid(logits) - x


def adam_step(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
    xp = array_namespace(param)
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad * grad
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return param - learning_rate * m_hat / (xp.sqrt(v_hat) + epsilon), m, v


def l1_activity_grad(h, weight):
    return (weight / h.shape[0]) * array_namespace(h).sign(h)


def kl_sparsity_grad(h, target):
    xp = array_namespace(h)
    rho_hat = xp.mean(h, axis=0, keepdims=True)
    return xp.zeros_like(h) + (-target / rho_hat + (1.0 - target) / (1.0 - rho_hat)) / h.shape[0]


def masking_noise(x, mask, rate):
    return array_namespace(x).where(mask, x, 0.0)


def gaussian_noise(x, eps, std):
    return array_namespace(x).clip(x + std * eps, 0.0, 1.0)


def contractive_penalty(W, z, activation):
    xp = array_namespace(z)
    s = activation.df(z)
    return xp.mean(xp.sum(s * s * xp.sum(W * W, axis=0)[None, :], axis=1))


def contractive_penalty_grad(W, z, activation, weight):
    xp = array_namespace(z)
    c = 2.0 * weight / z.shape[0]
    s = activation.df(z)
    dW = c * W * xp.sum(s * s, axis=0)[None, :]
    dz = c * s * activation.d2f(z) * xp.sum(W * W, axis=0)[None, :]
    return dW, dz


def contractive_jacobian(Ws, zs, activations):
    T = None
    for W, z, act in zip(Ws, zs, activations):
        A = W[None, :, :] if T is None else T @ W
        T = A * act.df(z)[:, None, :]
    return T


def gaussian_kl(mu, log_var):
    xp = array_namespace(mu)
    return -0.5 * xp.sum(1.0 + log_var - mu * mu - xp.exp(log_var), axis=1)


def gaussian_kl_grad(mu, log_var):
    return mu, 0.5 * (array_namespace(mu).exp(log_var) - 1.0)


def reparameterize_backward(dz, mu, log_var, eps):
    return dz, dz * 0.5 * array_namespace(dz).exp(0.5 * log_var) * eps


def iwae_bound(log_w):
    xp = array_namespace(log_w)
    m = xp.max(log_w, axis=0)
    return m + xp.log(xp.mean(xp.exp(log_w - m[None, :]), axis=0))


RIGHT = {name: fn for name, fn in globals().items() if name in ex.names() or name == "dense_activation_backward"}

# Tiny float64 configurations, one per model; every exercise of the model runs in them.
BASE = {"latent_dim": 3, "epochs": 2, "batch_size": 10, "random_state": 0, "verbose": 0, "dtype": "float64",
        "learning_rate": 0.01}
CONFIGS = {
    "autoencoder": {"hidden_sizes": (5,), "activation": "tanh", "latent_activation": "sigmoid"},
    "sparse": {"hidden_sizes": (5,), "activation": "relu", "latent_activation": "sigmoid", "sparsity": "kl",
               "sparsity_weight": 0.5, "target_sparsity": 0.1},
    "denoising": {"hidden_sizes": (5,), "activation": "relu", "noise": "masking", "noise_level": 0.3},
    "contractive": {"hidden_sizes": (), "latent_activation": "sigmoid", "contractive_weight": 0.3},
    "vae": {"hidden_sizes": (5,), "activation": "tanh"},
}


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(1).random((30, 8))


def _mine(kind, wrong=None):
    """The right functions of ``kind``'s exercises, with ``wrong`` ({name: fn}) planted."""
    functions = {n: fn for n, fn in RIGHT.items() if n in MODEL_EXERCISES[kind]}
    functions.update(wrong or {})
    return functions


def _counted(functions):
    """The functions wrapped to count their calls; returns (wrapped, counts)."""
    counts = dict.fromkeys(functions, 0)

    def counting(name, fn):
        def wrapper(*args):
            counts[name] += 1
            return fn(*args)
        return wrapper

    return {n: counting(n, fn) for n, fn in functions.items()}, counts


def _state(model, name):
    """What ``model.summary()`` says of exercise ``name``: "yours", "npae's", "yours, unused", …"""
    line = next(line for line in model.summary().splitlines() if line.split()[:1] == [name])
    return line.split(None, 1)[1].split(":")[0]


def _relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


# ---------------------------------------------------------------------- right functions: npae's numbers
@pytest.mark.parametrize("mode", ["fast", "reference"])
@pytest.mark.parametrize("kind", list(CONFIGS))
def test_assembled_from_right_functions_trains_to_npaes_own_numbers(kind, mode, X):
    params = {**BASE, **CONFIGS[kind]}
    functions, counts = _counted(_mine(kind))
    with kernels.use_kernels(mode):
        model = ex.assemble(functions, model=kind, **params)
        counts.update(dict.fromkeys(counts, 0))  # count the calls of fit, not of the checks
        model.fit(X)
        own = MODELS[kind](**params).fit(X)
    assert type(own) is not type(model) and isinstance(model, type(own))
    assert model.get_params() == own.get_params()
    assert len(model.history_["loss"]) == 2
    for key in own.history_:
        assert _relative(model.history_[key], own.history_[key]) < 1e-9, key
    mine, theirs = model.get_weights(), own.get_weights()
    assert set(mine) == set(theirs)
    for key in theirs:
        assert _relative(mine[key], theirs[key]) < 1e-9, key
    # the learner's code is what ran, in both kernel modes: every exercise the summary calls "yours" was called
    used = [n for n in counts if _state(model, n) == "yours"]
    assert "dense_forward" in used and "adam_step" in used
    if kind == "vae":
        model.log_likelihood(X[:4], k=3, random_state=0)
    if kind == "contractive":
        model.jacobian(X[:4])
    assert [n for n in used if counts[n] == 0] == []
    assert set(model.learner_functions) == set(counts)


def test_contractive_deep_encoder_runs_the_learners_jacobian_and_second_derivative(X):
    params = {**BASE, "hidden_sizes": (4,), "activation": "tanh", "latent_activation": "sigmoid",
              "contractive_weight": 0.2, "epochs": 1}
    functions, counts = _counted(_mine("contractive"))
    model = ex.assemble(functions, model="contractive", **params)
    counts.update(dict.fromkeys(counts, 0))
    model.fit(X)
    own = npae.ContractiveAutoencoder(**params).fit(X)
    assert _relative(model.history_["loss"], own.history_["loss"]) < 1e-9
    for key, value in own.get_weights().items():
        assert _relative(model.get_weights()[key], value) < 1e-9, key
    assert counts["contractive_jacobian"] > 0 and counts["tanh_second_derivative"] > 0
    assert counts["sigmoid_second_derivative"] > 0 and counts["contractive_penalty"] == 0


OPTIONS = [  # (model, hyperparameters, an exercise they run)
    ("autoencoder", {"loss": "mse", "optimizer": "adamw"}, "mse_grad"),
    ("autoencoder", {"optimizer": "sgd", "activation": "relu", "hidden_sizes": (5, 4)}, "relu_derivative"),
    ("sparse", {"sparsity": "l1"}, "l1_activity_grad"),
    ("denoising", {"noise": "gaussian", "noise_level": 0.3}, "gaussian_noise"),
    ("vae", {"hidden_sizes": ()}, "gaussian_kl"),
]


@pytest.mark.parametrize("kind, options, runs", OPTIONS, ids=[o[2] for o in OPTIONS])
def test_other_hyperparameters_match_npae_too(kind, options, runs, X):
    params = {**BASE, **CONFIGS[kind], **options}
    functions, counts = _counted(_mine(kind))
    model = ex.assemble(functions, model=kind, **params)
    counts.update(dict.fromkeys(counts, 0))
    model.fit(X)
    own = type(model)._npae_class(**params).fit(X)
    assert _relative(model.history_["loss"], own.history_["loss"]) < 1e-9
    for key, value in own.get_weights().items():
        assert _relative(model.get_weights()[key], value) < 1e-9, key
    assert counts[runs] > 0 and _state(model, runs) == "yours"


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_float32_models_agree_with_npae_without_a_false_alarm(kind, X):
    params = {**BASE, **CONFIGS[kind], "dtype": "float32", "epochs": 1}
    model = ex.assemble(_mine(kind), model=kind, **params).fit(X)  # compared with npae at float32's tolerance
    own = type(model)._npae_class(**params).fit(X)
    assert _relative(model.history_["loss"], own.history_["loss"]) < 1e-5
    assert "every call of yours agreed" in model.summary()


@pytest.mark.parametrize("kind", ["autoencoder", "vae"])
def test_assembled_models_run_on_every_backend(kind, xp, X):
    params = {**BASE, **CONFIGS[kind], "epochs": 1}
    model = ex.assemble(_mine(kind), model=kind, **params).fit(X)
    own = type(model)._npae_class(**params).fit(X)
    assert model.backend_.name == xp.name
    assert _relative(model.history_["loss"], own.history_["loss"]) < 1e-9
    for key, value in own.get_weights().items():
        assert _relative(npae.backend.to_numpy(model.get_weights()[key]), npae.backend.to_numpy(value)) < 1e-9


def test_a_stub_runs_npaes_code_and_the_summary_says_so(X):
    def dense_backward(x, W, b, grad_out):
        raise NotImplementedError

    params = {**BASE, **CONFIGS["autoencoder"]}
    model = ex.assemble({"dense_forward": dense_forward, "dense_backward": dense_backward}, **params)
    assert list(model.learner_functions) == ["dense_forward"]
    assert "not implemented yet" in _state(model, "dense_backward")
    model.fit(X)
    assert _relative(model.history_["loss"], npae.Autoencoder(**params).fit(X).history_["loss"]) < 1e-9


# ---------------------------------------------------------------------- a wrong function is named
def _sign_in_dW(x, W, b, grad_out):
    dx, dW, db = dense_backward(x, W, b, grad_out)
    return dx, -dW, db


def _l1_missing_1_over_N(h, weight):
    return weight * array_namespace(h).sign(h)


def _mse_missing_2(x, x_hat):
    return x_hat - x


def _tanh_forgot_square(z):
    return 1.0 - array_namespace(z).tanh(z)


def _adam_no_bias_correction(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * grad * grad
    return param - learning_rate * m / (array_namespace(param).sqrt(v) + epsilon), m, v


def _masking_inverted(x, mask, rate):
    return array_namespace(x).where(mask, 0.0, x)


def _contractive_forgot_fsecond(W, z, activation, weight):
    dW, dz = contractive_penalty_grad(W, z, activation, weight)
    return dW, array_namespace(dz).zeros_like(dz)


def _kl_grad_std_for_variance(mu, log_var):
    return mu, 0.5 * (array_namespace(mu).exp(0.5 * log_var) - 1.0)


def _reparameterize_forgot_eps(dz, mu, log_var, eps):
    return dz, dz * 0.5 * array_namespace(dz).exp(0.5 * log_var)


WRONG = [  # (model, extra params, exercise, wrong function, where the model must say it disagreed)
    ("autoencoder", {}, "dense_backward", _sign_in_dW, "decoder.1"),
    ("autoencoder", {}, "tanh_derivative", _tanh_forgot_square, "tanh activation after decoder.0"),
    ("autoencoder", {"loss": "mse"}, "mse_grad", _mse_missing_2, "reconstruction loss's gradient"),
    ("autoencoder", {}, "adam_step", _adam_no_bias_correction, "Adam update of encoder.0.W"),
    ("sparse", {"sparsity": "l1"}, "l1_activity_grad", _l1_missing_1_over_N, "sparsity penalty's gradient"),
    ("denoising", {}, "masking_noise", _masking_inverted, "corruption of a training batch"),
    ("contractive", {}, "contractive_penalty_grad", _contractive_forgot_fsecond, "contractive penalty"),
    ("vae", {}, "gaussian_kl_grad", _kl_grad_std_for_variance, "KL term's gradient"),
    ("vae", {}, "reparameterize_backward", _reparameterize_forgot_eps, "z = mu + σ·ε"),
]


@pytest.mark.parametrize("kind, extra, name, wrong, where", WRONG, ids=[w[2] for w in WRONG])
def test_a_planted_wrong_function_is_named_with_where_it_first_disagreed(kind, extra, name, wrong, where, X):
    with pytest.warns(LearnerFunctionWarning, match=f"Your {name} does not pass its exercise check"):
        model = ex.assemble(_mine(kind, {name: wrong}), model=kind, **{**BASE, **CONFIGS[kind], **extra})
    assert not model.learner_checks[name].passed
    with pytest.raises(LearnerFunctionError, match=f"Your {name} .* is the first of your functions to disagree") as err:
        model.fit(X)
    assert err.value.function == name and where in err.value.where
    assert "training step 1" in str(err.value)
    assert not hasattr(model, "history_")  # a failed fit leaves the model as it was


def test_the_first_wrong_function_in_the_step_is_the_one_named(X):
    # the loss gradient runs before any layer's backward pass
    functions = _mine("autoencoder", {"dense_backward": _sign_in_dW, "mse_grad": _mse_missing_2})
    with pytest.warns(LearnerFunctionWarning):
        model = ex.assemble(functions, **{**BASE, **CONFIGS["autoencoder"], "loss": "mse"})
    with pytest.raises(LearnerFunctionError) as err:
        model.fit(X)
    assert err.value.function == "mse_grad" and "dense_backward" not in str(err.value).split(".")[0]


def test_a_function_that_raises_is_named_with_the_layer(X):
    def dense_forward(x, W, b):
        return x @ W.T + b  # fails on non-square W

    with pytest.warns(LearnerFunctionWarning):
        model = ex.assemble({"dense_forward": dense_forward}, **{**BASE, **CONFIGS["autoencoder"]})
    with pytest.raises(LearnerFunctionError, match=r"Your dense_forward raised ValueError.*encoder\.0") as err:
        model.fit(X)
    assert isinstance(err.value.__cause__, ValueError)


def test_a_function_that_changes_its_input_in_place_is_named(X):
    def dense_backward(x, W, b, grad_out):
        xp = array_namespace(x)
        dx, dW, db = grad_out @ W.T, x.T @ grad_out, xp.sum(grad_out, axis=0)
        grad_out *= 0.0  # "free" the upstream gradient: the layer below reads it no more, but the caller may
        return dx, dW, db

    with pytest.warns(LearnerFunctionWarning, match="mutated_input"):
        model = ex.assemble({"dense_backward": dense_backward}, **{**BASE, **CONFIGS["autoencoder"]})
    with pytest.raises(LearnerFunctionError, match="changed its input grad_out in place"):
        model.fit(X)


def test_a_numpy_answer_on_another_backend_is_named(X):
    pytest.importorskip("torch")

    def dense_forward(x, W, b):
        return np.asarray(npae.backend.to_numpy(x) @ npae.backend.to_numpy(W) + npae.backend.to_numpy(b))

    model = ex.assemble({"dense_forward": dense_forward}, **{**BASE, **CONFIGS["autoencoder"], "backend": "torch"})
    with pytest.raises(LearnerFunctionError, match="its z is a numpy array, but the inputs were torch arrays"):
        model.fit(X)


def test_warn_mode_trains_on_with_the_wrong_function_and_says_so(X):
    params = {**BASE, **CONFIGS["sparse"], "sparsity": "l1"}
    with pytest.warns(LearnerFunctionWarning):
        model = ex.assemble(_mine("sparse", {"l1_activity_grad": _l1_missing_1_over_N}), model="sparse", **params)
    model.on_disagreement = "warn"
    with pytest.warns(LearnerFunctionWarning, match="l1_activity_grad .* is the first"):
        model.fit(X)
    assert "DISAGREED" in _state(model, "l1_activity_grad")
    own = npae.SparseAutoencoder(**params).fit(X)
    assert _relative(model.history_["loss"], own.history_["loss"]) > 1e-6  # it trained on the wrong gradient


# ---------------------------------------------------------------------- refused input
def test_unknown_names_and_models_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown exercise name.*'dense_fwd'.*dense_forward, dense_backward"):
        ex.assemble({"dense_fwd": dense_forward})
    with pytest.raises(ValueError, match="does not run 'gaussian_kl'.*model='vae'"):
        ex.assemble({"gaussian_kl": gaussian_kl}, model="sparse")
    with pytest.raises(ValueError, match="model.*'autoencoder', 'sparse', 'denoising', 'contractive', 'vae'"):
        ex.assemble({}, model="pca")
    with pytest.raises(TypeError, match="must be your function"):
        ex.assemble({"dense_forward": "x @ W + b"})
    with pytest.raises(TypeError, match="no hyperparameter 'sparsity'"):
        ex.assemble({}, model="autoencoder", sparsity="l1")
    with pytest.raises(TypeError, match="needs a dict"):
        ex.assemble([dense_forward])


# ---------------------------------------------------------------------- an estimator like npae's
def test_the_assembled_model_is_an_npae_estimator_that_clones_saves_and_says_what_is_yours(X, tmp_path):
    registered = dict(npae.models.MODEL_CLASSES)
    model = ex.assemble({"dense_forward": dense_forward, "adam_step": adam_step},
                        **{**BASE, **CONFIGS["autoencoder"]})
    assert npae.models.MODEL_CLASSES == registered  # npae.load still builds npae's own classes
    assert isinstance(model, npae.Autoencoder) and "your dense_forward, adam_step" in repr(model)
    twin = clone(model)
    assert twin.learner_functions == model.learner_functions and twin.get_params() == model.get_params()
    model.fit(X)
    assert model.transform(X).shape == (30, 3) and math.isfinite(model.score(X))
    copy = pickle.loads(pickle.dumps(model))
    assert copy.learner_functions == model.learner_functions
    np.testing.assert_array_equal(copy.transform(X), model.transform(X))
    model.save(tmp_path / "mine.npz")
    loaded = npae.load(tmp_path / "mine.npz")
    assert type(loaded) is npae.Autoencoder
    np.testing.assert_array_equal(loaded.reconstruct(X), model.reconstruct(X))


def test_central_differences_check_the_assembled_backward(X):
    model = ex.assemble(_mine("autoencoder"), **{**BASE, **CONFIGS["autoencoder"]})
    assert npae.gradcheck.check_model(model, X[:6]).passed
    with pytest.warns(LearnerFunctionWarning):
        wrong = ex.assemble({"dense_backward": _sign_in_dW}, **{**BASE, **CONFIGS["autoencoder"]})
    assert not npae.gradcheck.check_model(wrong, X[:6]).passed


def test_the_summary_of_a_model_with_none_of_the_learners_functions_claims_no_agreement():
    X = np.random.default_rng(0).random((32, 6))
    model = ex.assemble({}, model="autoencoder", hidden_sizes=(4,), latent_dim=2, epochs=1, batch_size=16,
                     dtype="float64", random_state=0, verbose=0).fit(X)
    summary = model.summary()
    assert "None of your functions runs" in summary and "agreed" not in summary


def test_compare_with_reports_whose_code_ran_and_the_loss_gap():
    X = np.random.default_rng(0).random((32, 6))
    params = dict(hidden_sizes=(4,), latent_dim=2, epochs=2, batch_size=16, dtype="float64", random_state=0, verbose=0)
    theirs = npae.Autoencoder(**params).fit(X)
    none_yours = ex.assemble({}, model="autoencoder", **params).fit(X)
    assert none_yours.loss_gap(theirs) == 0.0
    assert "None of this model's pieces are yours yet" in none_yours.compare_with(theirs)

    def relu_derivative(z):
        xp = array_namespace(z)
        return xp.where(z > 0, xp.ones_like(z), xp.zeros_like(z))

    yours = ex.assemble({"relu_derivative": relu_derivative}, model="autoencoder", **params).fit(X)
    assert yours.loss_gap(theirs) < 1e-9
    assert "Your code in this model: relu_derivative" in yours.compare_with(theirs)
    shorter = npae.Autoencoder(**{**params, "epochs": 1}).fit(X)
    with pytest.raises(ValueError, match="trained for 2 and 1 epochs"):
        yours.loss_gap(shorter)


def test_a_function_that_passes_its_check_but_not_the_model_is_told_where_to_look(X):
    """Right for the check's targets (0.1, 0.3), a typed-in 0.1 for any other: the check passes, the model's
    target differs, and the advice is not to rerun a check that names nothing."""

    def kl_typed_in(h, target):
        return kl_sparsity_grad(h, target if target in (0.1, 0.3) else 0.1)

    params = {**BASE, **CONFIGS["sparse"], "sparsity": "kl", "latent_activation": "sigmoid", "target_sparsity": 0.05}
    model = ex.assemble(_mine("sparse", {"kl_sparsity_grad": kl_typed_in}), model="sparse", **params)
    assert model.learner_checks["kl_sparsity_grad"].passed
    with pytest.raises(LearnerFunctionError, match="passed npae.exercises.check.*number typed in") as err:
        model.fit(X)
    assert "fix what it names" not in str(err.value)
