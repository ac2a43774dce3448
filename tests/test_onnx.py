"""npae.onnx: skl2onnx converters whose graphs, run by onnxruntime, compute what npae computes.

Small models, a few epochs, on real data (the embedded Fashion-MNIST subset). float32 graphs
must agree with npae within 1e-5 for codes and reconstructions (values of order 1) and within a
relative 1e-5 for scores (sums over 784 pixels, of order 100); float64 graphs to 1e-10.
"""

import inspect
import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from npae.applications import AnomalyDetector
from npae.datasets import load_embedded
from npae.models import VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder

REASON = 'the ONNX extra is not installed (pip install "npae[onnx]")'
pytest.importorskip("onnx", reason=REASON)
skl2onnx = pytest.importorskip("skl2onnx", reason=REASON)
ort = pytest.importorskip("onnxruntime", reason=REASON)
import npae.onnx  # registers the converters
from npae.onnx import to_onnx_decoder, to_onnx_score_samples

TOL = 1e-5
# AnomalyDetector's score parameter is ``anomaly_score`` since issue 18 (``score`` before it)
SCORE_PARAM = "anomaly_score" if "anomaly_score" in inspect.signature(AnomalyDetector).parameters else "score"
SMALL = {"epochs": 2, "batch_size": 64, "learning_rate": 3e-3, "verbose": 0, "random_state": 0}
GRAPH_OPS = {"Gemm", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus"}


@pytest.fixture(scope="module")
def data():
    X_train, _ = load_embedded("train")
    X_test, _ = load_embedded("test")
    return X_train[:600], X_test[:200]


MODELS = {
    "ae-relu-bce": lambda: Autoencoder(hidden_sizes=(32,), latent_dim=8, **SMALL),
    "ae-deep-tanh-sigmoid-code-mse": lambda: Autoencoder(hidden_sizes=(32, 16), latent_dim=6, activation="tanh",
                                                        latent_activation="sigmoid", loss="mse", **SMALL),
    "ae-softplus-elu-code": lambda: Autoencoder(hidden_sizes=(24,), latent_dim=5, activation="softplus",
                                               latent_activation="elu", **SMALL),
    "ae-leaky-relu-relu-code": lambda: Autoencoder(hidden_sizes=(24,), latent_dim=5, activation="leaky_relu",
                                                  latent_activation="relu", **SMALL),
    "sparse-l1": lambda: SparseAutoencoder(hidden_sizes=(32,), latent_dim=8, sparsity="l1", sparsity_weight=1.0,
                                           **SMALL),
    "sparse-kl": lambda: SparseAutoencoder(hidden_sizes=(32,), latent_dim=8, sparsity="kl",
                                           latent_activation="sigmoid", **SMALL),
    "denoising-mse": lambda: DenoisingAutoencoder(hidden_sizes=(32,), latent_dim=8, loss="mse", noise="masking",
                                                  noise_level=0.3, **SMALL),
    "contractive-one-layer": lambda: ContractiveAutoencoder(hidden_sizes=(), latent_dim=8,
                                                            latent_activation="sigmoid", contractive_weight=1.0,
                                                            **SMALL),
    "contractive-deep": lambda: ContractiveAutoencoder(hidden_sizes=(16, 12), latent_dim=6, activation="tanh",
                                                       latent_activation="softplus", contractive_weight=20.0, **SMALL),
    "vae-bernoulli": lambda: VAE(hidden_sizes=(32,), latent_dim=4, **SMALL),
    "vae-gaussian": lambda: VAE(hidden_sizes=(32, 16), latent_dim=4, activation="elu", likelihood="gaussian",
                                sigma=0.5, **SMALL),
}
AUTOENCODERS = [n for n in MODELS if not n.startswith("vae")]


@pytest.fixture(scope="module")
def fitted(data):
    X_train, _ = data
    return {name: make().fit(X_train) for name, make in MODELS.items()}


def run(onx, *inputs):
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def _max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _max_rel(a, b):
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(np.asarray(a, np.float64) - b) / np.abs(b)))


# --------------------------------------------------------------------------------------------
# transform: skl2onnx.to_onnx after import npae.onnx


@pytest.mark.parametrize("name", MODELS)
def test_transform_graph_is_gemm_and_activations_and_equals_npae(fitted, data, name):
    model, (_, X) = fitted[name], data
    onx = skl2onnx.to_onnx(model, X[:1].astype("float32"))
    assert {node.op_type for node in onx.graph.node} <= GRAPH_OPS
    assert sum(node.op_type == "Gemm" for node in onx.graph.node) == len(model.hidden_sizes) + 1
    (codes,) = run(onx, X)
    assert codes.dtype == np.float32 and codes.shape == (X.shape[0], model.latent_dim)
    assert _max_abs(codes, model.transform(X)) <= TOL


@pytest.mark.parametrize("name", ["ae-relu-bce", "contractive-deep", "vae-gaussian"])
def test_float64_graphs_equal_npae_to_double_rounding(data, name):
    X_train, X = (a.astype(np.float64) for a in data)
    model = MODELS[name]().set_params(dtype="float64").fit(X_train)
    (codes,) = run(skl2onnx.to_onnx(model, X[:1]), X)
    assert codes.dtype == np.float64 and _max_abs(codes, model.transform(X)) <= 1e-10
    Z = model.transform(X)
    (decoded,) = run(to_onnx_decoder(model, dtype="float64"), Z)
    assert _max_abs(decoded, model.inverse_transform(Z)) <= 1e-10
    if not name.startswith("vae"):
        (scores,) = run(to_onnx_score_samples(model, dtype="float64"), X)
        assert _max_rel(scores, model.score_samples(X)) <= 1e-10


# --------------------------------------------------------------------------------------------
# inverse_transform: to_onnx_decoder


@pytest.mark.parametrize("name", MODELS)
def test_decoder_graph_equals_inverse_transform(fitted, data, name):
    model, (_, X) = fitted[name], data
    onx = to_onnx_decoder(model)
    assert [i.name for i in onx.graph.input] == ["Z"] and [o.name for o in onx.graph.output] == ["X_hat"]
    Z = model.transform(X)
    (decoded,) = run(onx, Z)
    assert decoded.shape == X.shape
    assert _max_abs(decoded, model.inverse_transform(Z)) <= TOL
    if model.get_params().get("loss", model.get_params().get("likelihood")) in ("bce", "bernoulli"):
        assert onx.graph.node[-1].op_type == "Sigmoid"  # logits -> probabilities, as npae


# --------------------------------------------------------------------------------------------
# score_samples: to_onnx_score_samples


@pytest.mark.parametrize("name", AUTOENCODERS)
def test_score_graph_equals_score_samples(fitted, data, name):
    model, (_, X) = fitted[name], data
    onx = to_onnx_score_samples(model)
    assert [o.name for o in onx.graph.output] == ["score_samples"]
    (scores,) = run(onx, X)
    assert scores.shape == (X.shape[0],)
    assert _max_rel(scores, model.score_samples(X)) <= TOL


@pytest.mark.parametrize("name", ["sparse-l1", "contractive-one-layer", "contractive-deep"])
def test_score_graph_carries_the_penalty_not_just_the_reconstruction(fitted, data, name):
    """Without its penalty term the graph would be off by far more than the tolerance."""
    model, (_, X) = fitted[name], data
    (scores,) = run(to_onnx_score_samples(model), X)
    plain = model.get_params()
    plain["sparsity_weight" if name.startswith("sparse") else "contractive_weight"] = 0.0
    recon_only = type(model)(**plain)
    recon_only.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    gap = _max_rel(recon_only.score_samples(X), model.score_samples(X))
    assert gap > 100 * TOL
    assert _max_rel(scores, model.score_samples(X)) <= TOL


def test_deep_contractive_score_graph_takes_the_gram_form_when_the_code_is_narrower(data):
    """K < D: right to left, nothing D-wide (no (N, D, H) tensor); K ≥ D: the left-to-right recurrence."""
    X_train, X = data
    for width, latent_dim, form in ((784, 6, "gram"), (5, 8, "recurrence")):
        model = ContractiveAutoencoder(hidden_sizes=(16, 12), latent_dim=latent_dim, activation="tanh",
                                       latent_activation="softplus", contractive_weight=20.0, **SMALL)
        model.fit(X_train[:, :width])
        onx = to_onnx_score_samples(model)
        has_gram = any(init.name.startswith("gram") for init in onx.graph.initializer)
        assert has_gram == (form == "gram"), form
        (scores,) = run(onx, X[:, :width])
        assert _max_rel(scores, model.score_samples(X[:, :width])) <= TOL, form


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_score_graph_gives_extreme_rows_the_lowest_finite_score_as_npae(fitted, data):
    """A finite row whose objective overflows scores −finfo(dtype).max in npae; the graph too, not −inf
    or NaN (NaN < threshold is false: such a row would pass for normal)."""
    model = fitted["denoising-mse"]
    X = data[1][:3].copy()
    X[0, 5] = 1e20
    X[1] = 3e38
    X[2, ::2], X[2, 1::2] = 3e38, -3e38
    (scores,) = run(to_onnx_score_samples(model), X)
    lowest = -np.finfo(np.float32).max
    np.testing.assert_array_equal(model.score_samples(X), [lowest] * 3)
    np.testing.assert_array_equal(scores, [lowest] * 3)


def test_integer_and_dataframe_samples_convert_to_graphs_that_run(fitted, data):
    """skl2onnx keeps an integer sample's type and gives a DataFrame one input per column; the graph
    casts and concatenates them (as skl2onnx's own converters do), or refuses at conversion."""
    import pandas as pd

    model, (X_train, X) = fitted["ae-relu-bce"], data
    ints = (X[:20] * 255).astype(np.int64)
    for sample_type in (np.int64, np.int32):
        (codes,) = run(skl2onnx.to_onnx(model, ints[:1].astype(sample_type)), ints.astype(sample_type))
        assert codes.dtype == np.float32 and _max_abs(codes, model.transform(ints)) <= 1e-3
    columns = [f"px{i}" for i in range(X.shape[1])]
    named = Autoencoder(hidden_sizes=(8,), latent_dim=3, **SMALL).fit(pd.DataFrame(X_train[:200], columns=columns))
    frame = pd.DataFrame(X[:20], columns=columns)
    onx = skl2onnx.to_onnx(named, frame[:1])
    assert len(onx.graph.input) == X.shape[1]
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    (codes,) = session.run(None, {c: frame[[c]].to_numpy() for c in columns})
    assert _max_abs(codes, named.transform(frame)) <= TOL
    with pytest.raises(ValueError, match="are not the columns .* the model was fitted on"):
        skl2onnx.to_onnx(named, frame[columns[::-1]][:1])
    with pytest.raises(ValueError, match=rf"takes X with {X.shape[1]} columns; the graph's inputs declare 5"):
        skl2onnx.to_onnx(model, X[:1, :5])


@pytest.mark.parametrize("name", ["ae-relu-bce", "sparse-l1"])
def test_score_samples_option_adds_the_score_to_the_transform_graph(fitted, data, name):
    model, (_, X) = fitted[name], data
    onx = skl2onnx.to_onnx(model, X[:1].astype("float32"), options={"score_samples": True})
    assert [o.name for o in onx.graph.output] == ["variable", "score_samples"]
    codes, scores = run(onx, X)
    assert _max_abs(codes, model.transform(X)) <= TOL and _max_rel(scores, model.score_samples(X)) <= TOL
    with pytest.raises(TypeError, match="sampled ELBO"):
        skl2onnx.to_onnx(fitted["vae-bernoulli"], X[:1].astype("float32"), options={"score_samples": True})


def test_vae_score_graph_is_refused_with_the_reason(fitted):
    with pytest.raises(TypeError, match="sampled ELBO.*to_onnx_decoder"):
        to_onnx_score_samples(fitted["vae-bernoulli"])


def test_opset_below_13_uses_the_axes_attribute(fitted, data):
    model, (_, X) = fitted["ae-relu-bce"], data
    onx = to_onnx_score_samples(model, target_opset=12)
    assert max(op.version for op in onx.opset_import if op.domain == "") <= 12
    (scores,) = run(onx, X)
    assert _max_rel(scores, model.score_samples(X)) <= TOL


# --------------------------------------------------------------------------------------------
# pipelines


def test_minmax_scaler_then_autoencoder_converts_as_a_whole(data):
    X_train, _ = data
    X = X_train * 200.0 + 3.0  # raw units; the scaler maps the training rows back into [0, 1]
    # clip: rounding may put a training value a hair above 1, which loss='bce' refuses
    pipe = Pipeline([("scale", MinMaxScaler(clip=True)), ("ae", Autoencoder(hidden_sizes=(32,), latent_dim=8, **SMALL))])
    pipe.fit(X)
    onx = skl2onnx.to_onnx(pipe, X[:1].astype("float32"))
    (codes,) = run(onx, X[:200].astype("float32"))
    assert _max_abs(codes, pipe.transform(X[:200])) <= TOL


def test_standard_scaler_then_autoencoder_transform_and_score(data):
    X_train, X_test = data
    pipe = Pipeline([("scale", StandardScaler()),
                     ("ae", Autoencoder(hidden_sizes=(32,), latent_dim=8, loss="mse", **SMALL))]).fit(X_train)
    (codes,) = run(skl2onnx.to_onnx(pipe, X_train[:1]), X_test)
    assert _max_abs(codes, pipe.transform(X_test)) <= TOL
    (scores,) = run(to_onnx_score_samples(pipe), X_test)
    assert _max_rel(scores, pipe.score_samples(X_test)) <= TOL


# --------------------------------------------------------------------------------------------
# AnomalyDetector


@pytest.fixture(scope="module")
def detector(data):
    X_train, _ = data
    return AnomalyDetector(Autoencoder(hidden_sizes=(32,), latent_dim=8, **SMALL), contamination=0.2).fit(X_train)


def _labels_agree(labels, detector, X):
    """Labels equal predict, except where the decision is within float32 rounding of 0."""
    decision = detector.decision_function(X)
    clear = np.abs(decision) > TOL * np.abs(detector.score_samples(X))
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(labels[clear], detector.predict(X)[clear])
    assert set(np.unique(labels)) <= {-1, 1}


def test_anomaly_detector_serves_labels_and_decision_scores(detector, data):
    _, X = data
    onx = skl2onnx.to_onnx(detector, X[:1].astype("float32"))
    assert [o.name for o in onx.graph.output] == ["label", "scores"]
    labels, scores = run(onx, X)
    assert labels.dtype == np.int64 and labels.shape == (X.shape[0],)
    decision = detector.decision_function(X)
    assert np.max(np.abs(scores - decision) / np.abs(detector.score_samples(X))) <= TOL
    assert (labels == -1).any() and (labels == 1).any()
    _labels_agree(labels, detector, X)


def test_anomaly_detector_score_samples_option_adds_a_third_output(detector, data):
    _, X = data
    onx = skl2onnx.to_onnx(detector, X[:1].astype("float32"), options={"score_samples": True})
    assert [o.name for o in onx.graph.output] == ["label", "scores", "score_samples"]
    _, _, score_samples = run(onx, X)
    assert _max_rel(score_samples, detector.score_samples(X)) <= TOL


@pytest.mark.skipif(SCORE_PARAM == "score", reason="AnomalyDetector has no 'gaussian' score before issue 18")
@pytest.mark.parametrize("name", ["ae-relu-bce", "vae-gaussian"])
def test_anomaly_detector_gaussian_score_with_its_own_scaler(fitted, data, name):
    """The detector's StandardScaler, its model and the Gaussian log-density of residuals and
    codes, all in one graph (the mean code for a VAE: deterministic, so it converts)."""
    X_train, X = data
    model = MODELS[name]().set_params(**({"loss": "mse"} if name.startswith("ae") else {}))
    detector = AnomalyDetector(model, anomaly_score="gaussian", scaler="standard").fit(X_train)
    onx = skl2onnx.to_onnx(detector, X[:1], options={"score_samples": True})
    labels, scores, score_samples = run(onx, X)
    assert _max_rel(score_samples, detector.score_samples(X)) <= TOL
    assert np.max(np.abs(scores - detector.decision_function(X)) / np.abs(detector.score_samples(X))) <= TOL
    _labels_agree(labels, detector, X)


def test_scaler_then_anomaly_detector_converts_as_a_whole(data):
    X_train, X_test = data
    pipe = Pipeline([("scale", StandardScaler()),
                     ("detect", AnomalyDetector(Autoencoder(hidden_sizes=(32,), latent_dim=8, loss="mse", **SMALL)))])
    pipe.fit(X_train)
    labels, scores = run(skl2onnx.to_onnx(pipe, X_train[:1]), X_test)
    detector = pipe.named_steps["detect"]
    Xs = pipe.named_steps["scale"].transform(X_test)
    assert np.max(np.abs(scores - pipe.decision_function(X_test)) / np.abs(detector.score_samples(Xs))) <= TOL
    _labels_agree(labels, detector, Xs)


@pytest.mark.parametrize("dtype, floor", [("float32", float(np.finfo(np.float32).min)), ("float64", -1e300)])
@pytest.mark.parametrize("anomaly_score", ["reconstruction", "gaussian"])
def test_anomaly_detector_never_calls_a_row_it_cannot_score_normal(data, dtype, floor, anomaly_score):
    """npae refuses NaN and inf; the graph cannot, and NaN < 0 is false, so a row with a missing
    value came out an inlier (+1). It is an outlier at the most abnormal score instead."""
    from npae.applications.detector import EXTREME_SCORE

    X_train, X = data
    model = Autoencoder(hidden_sizes=(32,), latent_dim=8, loss="mse", **SMALL)
    detector = AnomalyDetector(model, anomaly_score=anomaly_score, scaler="standard").fit(X_train)
    assert floor == max(EXTREME_SCORE, float(np.finfo(dtype).min))
    X = X[:6].astype(dtype)
    X[0, 0], X[1, 3], X[2, :] = np.nan, np.inf, -np.inf
    X[3, 5] = np.nan
    X[3, 6] = np.inf
    labels, scores, score_samples = run(skl2onnx.to_onnx(detector, X[:1], options={"score_samples": True}), X)
    assert labels[[0, 2, 3]].tolist() == [-1, -1, -1]
    np.testing.assert_array_equal(scores[[0, 2, 3]], floor)
    np.testing.assert_array_equal(score_samples[[0, 2, 3]], floor)
    assert labels[1] == -1 and scores[1] < 0  # an inf that does not meet another: still an outlier
    assert not np.isnan(scores).any() and not np.isnan(score_samples).any()
    assert scores.min() >= floor and score_samples.min() >= floor
    assert np.max(np.abs(scores[4:] - detector.decision_function(X[4:])) / np.abs(detector.score_samples(X[4:]))) <= TOL


def test_anomaly_detector_with_a_sampled_score_is_refused(fitted, data):
    X_train, X = data
    elbo = AnomalyDetector(fitted["vae-bernoulli"], refit=False, **{SCORE_PARAM: "elbo"}).fit(X_train)
    with pytest.raises(ValueError, match="'reconstruction' or 'gaussian'; got 'elbo', a sampled score"):
        skl2onnx.to_onnx(elbo, X[:1])
    vae = AnomalyDetector(fitted["vae-bernoulli"], refit=False).fit(X_train)
    with pytest.raises(TypeError, match="sampled ELBO"):
        skl2onnx.to_onnx(vae, X[:1])


# --------------------------------------------------------------------------------------------
# refusals and laziness


def test_entry_points_refuse_non_models_unfitted_models_and_unknown_dtypes(fitted):
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match="to_onnx_decoder converts npae models.*got PCA"):
        to_onnx_decoder(PCA())
    with pytest.raises(NotFittedError, match="This Autoencoder instance is not fitted yet"):
        to_onnx_score_samples(Autoencoder())
    with pytest.raises(ValueError, match=r"dtype must be one of \('float32', 'float64'\); got 'float16'"):
        to_onnx_decoder(fitted["ae-relu-bce"], dtype="float16")


def test_every_estimator_is_registered():
    assert set(npae.onnx.MODELS) == {Autoencoder, SparseAutoencoder, DenoisingAutoencoder, ContractiveAutoencoder, VAE}
    for cls in npae.onnx.MODELS:
        assert skl2onnx.get_model_alias(cls) == f"Npae{cls.__name__}"


def test_importing_npae_never_imports_onnx():
    code = "import sys, npae; assert not {'onnx', 'skl2onnx', 'onnxruntime'} & set(sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --------------------------------------------------------------------------------------------
# graph hygiene


def _unread_initializers(onx):
    read = {name for node in onx.graph.node for name in node.input}
    return sorted(init.name for init in onx.graph.initializer if init.name not in read)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", MODELS)
def test_every_initializer_is_read_by_a_node_and_onnxruntime_stays_quiet(fitted, data, name, dtype, capfd):
    """float64 graphs spell softplus, elu and leaky_relu out of other operators; constants nothing
    reads make onnxruntime warn ("Removing initializer ... not used by any node")."""
    model, (_, X) = fitted[name], data
    graphs = [skl2onnx.to_onnx(model, X[:1].astype(dtype)), to_onnx_decoder(model, dtype=dtype)]
    if name in AUTOENCODERS:
        graphs.append(to_onnx_score_samples(model, dtype=dtype))
        graphs.append(skl2onnx.to_onnx(AnomalyDetector(model, refit=False).fit(data[0][:100]), X[:1].astype(dtype)))
    capfd.readouterr()
    for onx in graphs:
        assert _unread_initializers(onx) == []
        ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    assert "not used by any node" not in capfd.readouterr().err
