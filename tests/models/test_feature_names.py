"""scikit-learn's feature-name contract on every model: names recorded at fit, checked at every
later call (as ``AnomalyDetector`` and scikit-learn's own estimators do), codes named after the
class, and ``set_output`` through scikit-learn's mixin."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from npae.applications.detector import AnomalyDetector
from tests.helpers import SMALL_MODELS

pd = pytest.importorskip("pandas")

COLUMNS = ["a", "b", "c", "d"]
PREFIX = {"ae": "autoencoder", "sparse_l1": "sparseautoencoder", "sparse_kl": "sparseautoencoder",
          "denoising": "denoisingautoencoder", "contractive": "contractiveautoencoder", "vae": "vae"}


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.uniform(0.05, 0.95, size=(40, 4)).astype(np.float32), columns=COLUMNS)


def _methods(name, model):
    """The methods that read X's columns (VAE scores drawn with a fixed seed)."""
    methods = [model.transform, model.reconstruct, model.score_samples, model.score, model.reconstruction_error,
               lambda X: model.loss_and_grad(X)]
    if name == "vae":
        methods += [lambda X: model.elbo(X, random_state=0), lambda X: model.log_likelihood(X, k=2, random_state=0)]
    if name == "contractive":
        methods.append(model.jacobian)
    if name == "denoising":
        methods.append(model.corrupt)
    return methods


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_fit_on_a_dataframe_records_names_and_every_method_refuses_reordered_or_renamed_columns(name, frame):
    model = SMALL_MODELS[name]().fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, COLUMNS)
    assert model.n_features_in_ == 4
    model.transform(frame)  # the same columns: accepted
    reordered, renamed = frame[COLUMNS[::-1]], frame.rename(columns={"a": "z"})
    for method in _methods(name, model):
        with pytest.raises(ValueError, match="Feature names must be in the same order as they were in fit"):
            method(reordered)
        with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- z"):
            method(renamed)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        model.partial_fit(reordered)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        clone(model).set_params(warm_start=True).fit(frame).fit(reordered)


@pytest.mark.parametrize("name", ["ae", "vae"])
def test_names_follow_scikit_learns_warnings_and_a_refit_without_names_forgets_them(name, frame):
    model = SMALL_MODELS[name]().fit(frame)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.transform(frame.to_numpy())
    model.fit(frame.to_numpy())
    assert not hasattr(model, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but"):
        model.transform(frame)


def test_models_match_the_detectors_name_checks(frame):
    model = SMALL_MODELS["ae"]().fit(frame)
    detector = AnomalyDetector(SMALL_MODELS["ae"](), random_state=0).fit(frame)
    for bad in (frame[COLUMNS[::-1]], frame.rename(columns={"a": "z"})):
        with pytest.raises(ValueError) as from_model:
            model.score_samples(bad)
        with pytest.raises(ValueError) as from_detector:
            detector.score_samples(bad)
        assert str(from_model.value) == str(from_detector.value)


def test_validation_data_must_have_the_training_columns(frame):
    with pytest.raises(ValueError, match="feature names of validation_data should match those of X"):
        SMALL_MODELS["ae"]().fit(frame, validation_data=frame[COLUMNS[::-1]])


def test_a_failed_fit_keeps_the_names_of_the_previous_fit(frame):
    model = SMALL_MODELS["ae"]().fit(frame)
    other = frame.rename(columns=str.upper)
    with pytest.raises(ValueError, match="expects X in"):
        model.fit(other * 10.0)  # refused data: nothing changes
    np.testing.assert_array_equal(model.feature_names_in_, COLUMNS)


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_get_feature_names_out_names_the_codes_after_the_class(name, frame):
    model = SMALL_MODELS[name]()
    with pytest.raises(NotFittedError):
        model.get_feature_names_out()
    model.fit(frame)
    K = model.latent_dim
    np.testing.assert_array_equal(model.get_feature_names_out(), [f"{PREFIX[name]}{k}" for k in range(K)])
    model.get_feature_names_out(COLUMNS)  # the fitted names are valid input_features
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        model.get_feature_names_out(COLUMNS[::-1])


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_set_output_pandas_returns_named_codes_that_inverse_transform_accepts(name, frame):
    model = SMALL_MODELS[name]().set_output(transform="pandas").fit(frame)
    codes = model.transform(frame.iloc[5:12])
    assert isinstance(codes, pd.DataFrame)
    assert list(codes.columns) == list(model.get_feature_names_out())
    assert list(codes.index) == list(range(5, 12))
    np.testing.assert_array_equal(model.inverse_transform(codes), model.inverse_transform(codes.to_numpy()))
    with pytest.raises(ValueError, match="code names should match get_feature_names_out"):
        model.inverse_transform(codes[codes.columns[::-1]])


def test_a_pipeline_with_set_output_pandas_runs_and_names_its_output(frame):
    pipe = make_pipeline(StandardScaler(), SMALL_MODELS["ae"](loss="mse")).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no name warnings between the steps
        out = pipe.fit_transform(frame)
        again = pipe.transform(frame)
    assert list(out.columns) == ["autoencoder0", "autoencoder1"]
    pd.testing.assert_frame_equal(out, again)


def test_set_output_polars_when_polars_is_installed(frame):
    pl = pytest.importorskip("polars")
    model = SMALL_MODELS["ae"]().set_output(transform="polars").fit(pl.from_pandas(frame))
    np.testing.assert_array_equal(model.feature_names_in_, COLUMNS)
    codes = model.transform(pl.from_pandas(frame))
    assert isinstance(codes, pl.DataFrame) and codes.columns == ["autoencoder0", "autoencoder1"]
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        model.transform(pl.from_pandas(frame[COLUMNS[::-1]]))


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_a_saved_and_loaded_model_checks_the_columns_as_the_saved_one(name, frame, tmp_path):
    import npae

    model = SMALL_MODELS[name]().fit(frame)
    model.save(tmp_path / "m.npz")
    loaded = npae.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.feature_names_in_, COLUMNS)
    np.testing.assert_array_equal(loaded.transform(frame), model.transform(frame))
    with pytest.raises(ValueError, match="Feature names must be in the same order as they were in fit"):
        loaded.transform(frame[COLUMNS[::-1]])
    plain = SMALL_MODELS[name]().fit(frame.to_numpy())  # fitted without names: none saved, none loaded
    plain.save(tmp_path / "plain.npz")
    assert not hasattr(npae.load(tmp_path / "plain.npz"), "feature_names_in_")
