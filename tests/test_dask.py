"""npae.dask: inference block by block on a Dask cluster, the streaming fit, and device blocks.

Everything runs on one ``distributed.LocalCluster`` of 2 worker processes (one thread each) bound
to 127.0.0.1, started and closed by a module fixture; the Client it opens is Dask's default
scheduler for every compute here. Skipped as a whole when Dask, distributed or dask-ml is absent.
"""

import itertools
import sys

import numpy as np
import pytest

pytest.importorskip("dask", reason='Dask is not installed (pip install "npae[dask]")')
pytest.importorskip("distributed", reason='distributed is not installed (pip install "npae[dask]")')
pytest.importorskip("dask_ml", reason='dask-ml is not installed (pip install "npae[dask]")')

import cloudpickle  # after the skips: it comes with distributed
import dask.array as da
from dask_ml.wrappers import ParallelPostFit as DaskMLParallelPostFit
from distributed import Client, LocalCluster
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import npae
import npae.dask as nd

N, D, K = 240, 10, 3
ROW_CHUNKS = (50, 97, 3, 90)  # uneven on purpose, one block of 3 rows
SMALL = {"hidden_sizes": (8,), "latent_dim": K, "epochs": 2, "batch_size": 32, "dtype": "float64",
         "random_state": 0, "verbose": 0}


@pytest.fixture(scope="module")
def client():
    # the helpers below travel to the workers by value (the workers need not import this file)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def X():
    """Rows near a 3-dimensional manifold in [0, 1]^10, so the models learn something."""
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(N, K))
    return 1.0 / (1.0 + np.exp(-codes @ rng.normal(size=(K, D)))) * 0.9 + 0.05 * rng.random((N, D))


@pytest.fixture(scope="module")
def fitted(X):
    models = {
        "Autoencoder": npae.Autoencoder(**SMALL),
        "SparseAutoencoder": npae.SparseAutoencoder(**SMALL),
        "DenoisingAutoencoder": npae.DenoisingAutoencoder(**SMALL),
        "ContractiveAutoencoder": npae.ContractiveAutoencoder(**SMALL),
        "VAE": npae.VAE(**SMALL),
    }
    fitted = {name: model.fit(X) for name, model in models.items()}
    fitted["AnomalyDetector"] = npae.AnomalyDetector(npae.Autoencoder(**SMALL)).fit(X)
    return fitted


def _rows(a):
    """a as a Dask array with ROW_CHUNKS row blocks (and, for data, two column blocks)."""
    cols = (a.shape[1] - a.shape[1] // 2, a.shape[1] // 2) if a.shape[1] == D else (a.shape[1],)
    return da.from_array(a, chunks=(ROW_CHUNKS, cols))


MODELS = ["Autoencoder", "SparseAutoencoder", "DenoisingAutoencoder", "ContractiveAutoencoder", "VAE"]
DETERMINISTIC = [(m, method) for m in MODELS for method in ("transform", "inverse_transform", "reconstruct")]
DETERMINISTIC += [(m, "score_samples") for m in MODELS if m != "VAE"]  # the VAE's score draws noise
DETERMINISTIC += [("AnomalyDetector", method) for method in ("score_samples", "decision_function", "predict",
                                                             "predict_proba", "predict_confidence")]


@pytest.mark.parametrize("name, method", DETERMINISTIC, ids=[f"{n}-{m}" for n, m in DETERMINISTIC])
def test_every_method_on_a_cluster_matches_memory_whatever_the_chunks(client, X, fitted, name, method):
    estimator = fitted[name]
    inputs = estimator.transform(X) if method == "inverse_transform" else X
    lazy = getattr(nd.ParallelPostFit(estimator), method)(_rows(inputs))
    want = getattr(estimator, method)(inputs)
    got = lazy.compute()
    assert type(got) is np.ndarray
    assert lazy.shape == got.shape == want.shape and lazy.dtype == got.dtype == want.dtype
    assert lazy.chunks[0] == ROW_CHUNKS
    if method == "predict":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_a_detectors_probabilities_match_memory_for_each_method(client, X, fitted):
    """dask-ml's predict_proba read the detector's classes_ (it has none) and failed on Dask arrays."""
    detector = fitted["AnomalyDetector"]
    wrapper = nd.ParallelPostFit(detector)
    X_far = X.copy()
    X_far[-10:] = 1.0 - X_far[-10:]  # off the manifold: a few rows with high outlier probabilities
    for method in ("linear", "unify"):
        lazy = wrapper.predict_proba(_rows(X_far), method=method)
        assert lazy.shape == (X_far.shape[0], 2) and lazy.chunks[1] == (2,)
        want = detector.predict_proba(X_far, method=method)
        assert want[-10:, 1].mean() > want[:-10, 1].mean()
        np.testing.assert_allclose(lazy.compute(), want, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(wrapper.predict_proba(X_far, method=method), want)  # in memory: itself
    assert wrapper.predict_proba(_rows(X), method="linear").name != wrapper.predict_proba(_rows(X), method="unify").name
    with pytest.raises(ValueError, match="Unknown method 'unfiy'; expected one of 'linear', 'unify'"):
        wrapper.predict_proba(_rows(X), method="unfiy")
    with pytest.raises(AttributeError, match="Autoencoder has no predict_proba()"):
        nd.ParallelPostFit(fitted["Autoencoder"]).predict_proba(_rows(X))


def test_a_vae_scores_each_block_with_the_draws_of_memory(client, X, fitted):
    """Monte Carlo scores whose noise each row draws from a stream seeded by its content: the
    blocks give the in-memory scores (they used to draw other noise per block, equal only in
    distribution); with random_state, block by block exactly what the in-memory detector gives."""
    vae = fitted["VAE"]
    want = vae.score_samples(X)
    got = nd.ParallelPostFit(vae).score_samples(_rows(X)).compute()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)  # as the deterministic methods do

    detector = npae.AnomalyDetector(vae, 0.1, "elbo", refit=False, random_state=0).fit(X)  # score="elbo"
    got = nd.ParallelPostFit(detector).score_samples(_rows(X)).compute()
    edges = np.cumsum((0,) + ROW_CHUNKS)
    per_block = np.concatenate([detector.score_samples(X[a:b]) for a, b in itertools.pairwise(edges)])
    np.testing.assert_allclose(got, per_block, rtol=1e-10)


def test_the_model_is_one_key_of_the_graph_that_every_block_reads(X, fitted):
    model = fitted["Autoencoder"]
    lazy = nd.ParallelPostFit(model).score_samples(_rows(X))
    graph = dict(lazy.__dask_graph__())
    holders = [key for key, node in graph.items() if getattr(node, "value", None) is model]
    assert len(holders) == 1
    blocks = [node for key, node in graph.items() if isinstance(key, tuple) and key[0] == lazy.name]
    assert len(blocks) == len(ROW_CHUNKS)
    assert all(holders[0] in node.dependencies for node in blocks)


def _count_model_unpickling() -> None:
    """On a worker: count every npae model unpickled from now on (its class's ``__setstate__``)."""
    from npae.models.base import BaseAutoencoder

    inherited = BaseAutoencoder.__setstate__  # BaseEstimator's, unless npae defines its own

    def counting_setstate(self, state):
        counting_setstate.calls += 1
        return inherited(self, state)

    counting_setstate.calls = 0
    counting_setstate.own = BaseAutoencoder.__dict__.get("__setstate__")
    BaseAutoencoder.__setstate__ = counting_setstate


def _unpickled_models():
    from npae.models.base import BaseAutoencoder

    return BaseAutoencoder.__setstate__.calls


def _restore_unpickling():
    from npae.models.base import BaseAutoencoder

    own = BaseAutoencoder.__setstate__.own
    if own is None:
        del BaseAutoencoder.__setstate__
    else:
        BaseAutoencoder.__setstate__ = own


def test_each_worker_receives_the_model_once_not_once_per_block(client, X, fitted):
    client.run(_count_model_unpickling)
    try:
        lazy = nd.ParallelPostFit(fitted["Autoencoder"]).reconstruct(da.from_array(X, chunks=(20, D)))
        assert lazy.numblocks[0] == 12
        lazy.compute()
        counts = client.run(_unpickled_models)
    finally:
        client.run(_restore_unpickling)
    assert len(counts) == 2 and all(c <= 1 for c in counts.values()) and sum(counts.values()) >= 1


def test_dask_mls_own_wrapper_runs_npae_models_unchanged(client, X, fitted):
    model = fitted["Autoencoder"]
    wrapper = nd.ParallelPostFit(model)
    assert isinstance(wrapper, DaskMLParallelPostFit)
    np.testing.assert_allclose(DaskMLParallelPostFit(model).transform(_rows(X)).compute(), model.transform(X),
                               rtol=1e-10)


def test_in_memory_inputs_call_the_estimator_itself(X, fitted):
    model = fitted["ContractiveAutoencoder"]
    got = nd.ParallelPostFit(model).score_samples(X)
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, model.score_samples(X))
    assert nd.ParallelPostFit(model).score(X) == model.score(X)


def test_score_is_the_mean_of_the_block_scores(client, X, fitted):
    model = fitted["Autoencoder"]
    assert nd.ParallelPostFit(model).score(_rows(X)) == pytest.approx(model.score(X), rel=1e-12)


def test_bad_inputs_are_refused_on_the_client_before_any_worker_runs(X, fitted):
    wrapper = nd.ParallelPostFit(fitted["Autoencoder"])
    with pytest.raises(ValueError, match="X has 7 features, but Autoencoder is expecting 10 features as input"):
        wrapper.transform(da.from_array(X[:, :7], chunks=(50, 7)))
    with pytest.raises(ValueError, match="X has 10 features, but Autoencoder is expecting 3 features"):
        wrapper.inverse_transform(_rows(X))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        wrapper.score_samples(da.from_array(X[:, 0], chunks=50))
    with pytest.raises(AttributeError, match="AnomalyDetector has no transform"):
        nd.ParallelPostFit(fitted["AnomalyDetector"]).transform(_rows(X))
    with pytest.raises(NotFittedError):
        nd.ParallelPostFit(npae.Autoencoder()).transform(_rows(X))


# ------------------------------------------------------------------------------ streaming fit
def _is_memmap(block):
    return np.full((1, 1), isinstance(block, np.memmap))


@pytest.fixture(scope="module")
def npy(tmp_path_factory, X):
    path = tmp_path_factory.mktemp("npy") / "X.npy"
    np.save(path, np.tile(X, (5, 1)))  # 1,200 rows
    return path


def test_from_npy_reads_memory_maps_on_the_workers_and_keeps_data_out_of_the_graph(client, npy):
    X = nd.from_npy(npy, rows_per_chunk=500)
    assert X.chunks == ((500, 500, 200), (D,))
    # (no drop_axis: Dask would concatenate the block into a new ndarray before the call)
    assert X.map_blocks(_is_memmap, chunks=((1,) * 3, (1,)), dtype=bool).compute().all()
    np.testing.assert_array_equal(X.compute(), np.load(npy))
    assert len(cloudpickle.dumps(dict(X.__dask_graph__()))) < 10_000  # the file is 96 kB


def test_from_npy_refuses_what_it_cannot_chunk(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(ValueError, match="expected 2-D"):
        nd.from_npy(tmp_path / "v.npy")
    np.save(tmp_path / "m.npy", np.zeros((5, 2)))
    with pytest.raises(ValueError, match="rows_per_chunk must be a positive integer"):
        nd.from_npy(tmp_path / "m.npy", rows_per_chunk=0)


def test_incremental_is_partial_fit_block_after_block(client, npy):
    model = npae.Autoencoder(**SMALL)
    X = nd.from_npy(npy, rows_per_chunk=500)
    streamed = nd.Incremental(model, shuffle_blocks=False).fit(X).estimator_
    by_hand = clone(model)
    data = np.load(npy, mmap_mode="r")
    for start in range(0, data.shape[0], 500):
        by_hand.partial_fit(data[start:start + 500])
    assert len(streamed.history_["loss"]) == 3
    for name, value in by_hand.parameters().items():
        np.testing.assert_allclose(streamed.parameters()[name], value, rtol=1e-9, err_msg=name)


def test_a_streaming_fit_reaches_the_loss_of_an_in_memory_fit(client, npy):
    model = npae.Autoencoder(**dict(SMALL, epochs=4))
    X = nd.from_npy(npy, rows_per_chunk=300)
    streaming = nd.Incremental(model, random_state=np.random.RandomState(0))
    for _ in range(4):  # one pass is one epoch over every row
        streaming.partial_fit(X)
    memory = clone(model).fit(np.load(npy, mmap_mode="r"))
    data = np.load(npy)
    assert len(streaming.estimator_.history_["loss"]) == 4 * 4
    assert streaming.score(X) == pytest.approx(memory.score(data), rel=0.1)
    assert streaming.score(X) > clone(model).partial_fit(data[:300]).score(data)


# ------------------------------------------------------------------------------ device blocks
def _device_names(block):
    from array_api_compat import device

    return np.full((1, 1), str(device(block)), dtype=object)


def test_blocks_on_the_strict_device_are_scored_there(client, X):
    """array_api_strict on Device("device1") stands in for CuPy: blocks live on the device, the
    model runs there, and npae.dask.to_numpy brings the results home (Dask cannot concatenate
    strict arrays itself: its concatenate calls numpy.empty with strict's dtype)."""
    model = npae.Autoencoder(**dict(SMALL, backend="array_api_strict")).fit(X)
    blocks = nd.to_backend(da.from_array(X, chunks=(ROW_CHUNKS, D)), "array_api_strict")
    wrapper = nd.ParallelPostFit(model)
    assert type(blocks._meta).__module__.startswith("array_api_strict")
    names = blocks.map_blocks(_device_names, chunks=((1,) * 4, (1,)), dtype=object).compute()
    assert set(names.ravel()) == {"array_api_strict.Device('device1')"}
    for method, inputs in [("score_samples", blocks), ("reconstruct", blocks), ("transform", blocks)]:
        lazy = getattr(wrapper, method)(inputs)
        assert type(lazy._meta).__module__.startswith("array_api_strict")
        got = nd.to_numpy(lazy).compute()
        want = npae.to_numpy(getattr(model, method)(npae.asarray(X, backend="array_api_strict")))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    detector = npae.AnomalyDetector(model, refit=False).fit(X)
    np.testing.assert_array_equal(nd.ParallelPostFit(detector).predict(blocks).compute(), detector.predict(X))


def test_cupy_blocks_are_scored_on_the_gpu(client, X):
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'npae[gpu]')")
    if not cupy.is_available():
        pytest.skip("CuPy is installed but no CUDA device is usable")
    model = npae.Autoencoder(**dict(SMALL, backend="cupy")).fit(X)
    blocks = nd.to_backend(da.from_array(X, chunks=(ROW_CHUNKS, D)), "cupy")
    lazy = nd.ParallelPostFit(model).score_samples(blocks)
    assert isinstance(lazy._meta, cupy.ndarray)
    got = lazy.compute()  # Dask concatenates CuPy blocks on the device
    assert isinstance(got, cupy.ndarray)
    want = model.score_samples(cupy.asarray(X))
    np.testing.assert_allclose(cupy.asnumpy(got), cupy.asnumpy(want), rtol=1e-10, atol=1e-12)
    Z = nd.ParallelPostFit(model).transform(blocks)
    np.testing.assert_allclose(cupy.asnumpy(Z.compute()), cupy.asnumpy(model.transform(cupy.asarray(X))),
                               rtol=1e-10, atol=1e-12)


def test_only_npae_dask_imports_dask():
    """``import npae`` stays free of Dask: no other module names dask, distributed or dask_ml."""
    import ast
    from pathlib import Path

    package = Path(npae.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n.split(".")[0] in ("dask", "distributed", "dask_ml") or n == "npae.dask" for n in names):
                offenders.append(path.relative_to(package).as_posix())
    assert sorted(set(offenders)) == ["dask.py"]


# ------------------------------------------------------------------------------ a model is a value
def _changed(model, change, X):
    """Change a fitted model's weights the ways a user does."""
    if change == "partial_fit":
        model.partial_fit(X)
    elif change == "warm_start":
        model.set_params(warm_start=True, epochs=1).fit(X)
    elif change == "refit":  # from scratch, another seed
        model.set_params(random_state=1).fit(X)
    elif change == "set_weights":
        model.set_weights({k: v * 0.5 for k, v in model.get_weights().items()})
    else:  # an in-place edit of a live parameter array
        model.parameters()["encoder.0.W"][...] += 0.25
    return model


@pytest.mark.parametrize("change", ["partial_fit", "warm_start", "refit", "set_weights", "in_place"])
def test_a_changed_model_never_gets_results_persisted_for_the_old_one(client, X, change):
    model = npae.Autoencoder(**SMALL).fit(X)
    wrapper = nd.ParallelPostFit(model)
    old = wrapper.transform(_rows(X)).persist()  # held on the cluster under the old model's keys
    before = old.compute()
    _changed(model, change, X)
    new = wrapper.transform(_rows(X))
    assert new.name != old.name
    got = new.compute()
    np.testing.assert_allclose(got, model.transform(X), rtol=1e-10, atol=1e-12)
    assert np.abs(got - before).max() > 1e-6
    del old


def test_the_models_name_is_its_content():
    from dask.base import tokenize

    X = np.random.default_rng(1).random((30, D))
    a, b = npae.Autoencoder(**SMALL).fit(X), npae.Autoencoder(**SMALL).fit(X)
    assert tokenize(a) == tokenize(b)  # equal content, equal name
    assert tokenize(a) == tokenize(a.set_params(epochs=7))  # set_params after the fit: the same model
    assert tokenize(a) != tokenize(npae.Autoencoder(**dict(SMALL, random_state=1)).fit(X))
    detector = npae.AnomalyDetector(npae.Autoencoder(**SMALL), refit=True).fit(X)
    name = tokenize(detector)
    detector.model_.parameters()["decoder.0.b"][...] += 1.0
    assert tokenize(detector) != name


def test_a_vae_block_scores_its_rows_as_memory_does_and_leaves_the_client_model_alone(X, fitted):
    """Each row draws its noise from a stream seeded by its content, whatever block it is in:
    identical rows in two blocks score alike and equal the in-memory scores, the same graph gives
    the same numbers, nothing on the client moves (the synchronous scheduler runs the very object
    the client holds). Block i used to draw from a stream of key (i,), so the two halves differed."""
    vae = fitted["VAE"]
    state = vae._rng.bit_generator.state
    twice = np.vstack([X[:40], X[:40]])
    lazy = nd.ParallelPostFit(vae).score_samples(da.from_array(twice, chunks=(40, D)))
    got = lazy.compute(scheduler="sync")
    np.testing.assert_array_equal(got[:40], got[40:])
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), got)
    np.testing.assert_array_equal(got[:40], vae.score_samples(X[:40]))  # the same rows, the same products
    # a product over 80 rows may round otherwise than over 40 (README: Dask), never the noise
    np.testing.assert_allclose(got, vae.score_samples(twice), rtol=1e-10, atol=1e-12)
    assert vae._rng.bit_generator.state == state


# ------------------------------------------------------------------------------ empty blocks
ALL_METHODS = DETERMINISTIC + [("VAE", "score_samples")]


@pytest.mark.parametrize("name, method", ALL_METHODS, ids=[f"{n}-{m}" for n, m in ALL_METHODS])
def test_blocks_of_zero_rows_give_zero_rows(X, fitted, name, method):
    estimator = fitted[name]
    inputs = (estimator.transform(X) if method == "inverse_transform" else X)[:20]
    lazy = getattr(nd.ParallelPostFit(estimator), method)(da.from_array(inputs, chunks=((5, 0, 15), inputs.shape[1])))
    assert lazy.chunks[0] == (5, 0, 15)
    got = lazy.compute(scheduler="sync")
    want = getattr(estimator, method)(inputs)
    assert got.shape == want.shape and got.dtype == want.dtype
    # a VAE's sampled scores too: each row draws the noise it draws in memory
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    masked = da.from_array(inputs, chunks=5)[da.from_array(inputs[:, 0] > 2.0, chunks=5)]  # no row kept
    assert getattr(nd.ParallelPostFit(estimator), method)(masked).compute(scheduler="sync").shape[0] == 0


def test_a_boolean_mask_selection_scores_the_rows_it_keeps(X, fitted):
    model = fitted["ContractiveAutoencoder"]
    keep = X[:, 0] > np.quantile(X[:, 0], 0.7)
    keep[:50] = False  # the first block keeps nothing
    selected = _rows(X)[da.from_array(keep, chunks=(ROW_CHUNKS,))]
    got = nd.ParallelPostFit(model).score_samples(selected).compute(scheduler="sync")
    np.testing.assert_allclose(got, model.score_samples(X[keep]), rtol=1e-10, atol=1e-12)


def test_incremental_skips_blocks_of_zero_rows(X):
    model = npae.Autoencoder(**SMALL)
    chunks = ((0, 100, 0, 140, 0), (D,))
    streamed = nd.Incremental(model, shuffle_blocks=False).fit(da.from_array(X, chunks=chunks))
    by_hand = clone(model).partial_fit(X[:100]).partial_fit(X[100:])
    assert len(streamed.estimator_.history_["loss"]) == 2
    for name, value in by_hand.parameters().items():
        np.testing.assert_allclose(streamed.estimator_.parameters()[name], value, rtol=1e-12, err_msg=name)
    keep = X[:, 1] > np.median(X[:, 1])
    keep[:120] = False
    masked = da.from_array(X, chunks=(120, D))[da.from_array(keep, chunks=120)]  # unknown chunk sizes
    trained = nd.Incremental(clone(model), shuffle_blocks=False).fit(masked).estimator_
    assert len(trained.history_["loss"]) == 1
    with pytest.raises(ValueError, match="0 sample"):
        nd.Incremental(clone(model)).fit(da.from_array(X[:0], chunks=(5, D)))
    with pytest.raises(ValueError, match="Every block of X is empty"):
        nd.Incremental(clone(model)).fit(da.from_array(X, chunks=(120, D))[da.from_array(X[:, 0] > 2.0, chunks=120)])


def test_a_detectors_name_follows_its_scaler_and_threshold():
    from dask.base import tokenize

    X = np.random.default_rng(2).random((30, 1100))  # over 1,000 features: NumPy abridges its repr
    detector = npae.AnomalyDetector(npae.Autoencoder(**SMALL, loss="mse"), scaler="standard").fit(X)
    name = tokenize(detector)
    detector.scaler_.mean_[500] += 1.0  # in the middle, where the repr prints "..."
    assert tokenize(detector) != name
    name = tokenize(detector)
    detector.offset_ = detector.offset_ + 1.0
    assert tokenize(detector) != name


@pytest.mark.parametrize("name", ["Autoencoder", "VAE", "AnomalyDetector"])
def test_a_dask_dataframe_stays_on_the_workers_and_its_columns_are_checked(client, X, name):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    columns = [f"c{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    model = (npae.AnomalyDetector(npae.Autoencoder(**SMALL)) if name == "AnomalyDetector"
             else getattr(npae, name)(**SMALL)).fit(frame)
    wrapper = nd.ParallelPostFit(model)
    scores = wrapper.score_samples(dd.from_pandas(frame, npartitions=3))
    assert isinstance(scores, da.Array)  # lazy: computed on the workers, not gathered on the client
    np.testing.assert_allclose(scores.compute(), model.score_samples(frame), rtol=1e-5)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        wrapper.score_samples(dd.from_pandas(frame[columns[::-1]], npartitions=3))


def test_other_estimators_run_as_dask_ml_runs_them_or_are_refused_by_name(client, X):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), npae.Autoencoder(**{**SMALL, "loss": "mse"})).fit(X)
    for estimator in (pipeline, PCA(3).fit(X)):
        got = nd.ParallelPostFit(estimator).transform(_rows(X)).compute()
        np.testing.assert_allclose(got, estimator.transform(X), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="runs inverse_transform\\(\\) block by block for npae estimators"):
        nd.ParallelPostFit(PCA(3).fit(X)).inverse_transform(_rows(X[:, :3]))


def test_any_detectors_row_scores_run_block_by_block(client, X):
    """score_samples and decision_function score each row on its own for any outlier detector."""
    from sklearn.ensemble import IsolationForest

    from npae.applications import PCAReconstructionDetector

    for detector in (IsolationForest(random_state=0).fit(X), PCAReconstructionDetector(3).fit(X)):
        for method in ("score_samples", "decision_function"):
            lazy = getattr(nd.ParallelPostFit(detector), method)(_rows(X))
            assert lazy.dtype == np.float64 and lazy.chunks[0] == ROW_CHUNKS
            np.testing.assert_allclose(lazy.compute(), getattr(detector, method)(X), rtol=1e-12)


# ---------------------------------------------------------------- review s10 (dask-ml user's view)
def test_incremental_trains_on_whole_rows_of_a_column_chunked_array(X):
    model = npae.Autoencoder(**SMALL)
    streamed = nd.Incremental(model, shuffle_blocks=False).fit(da.from_array(X, chunks=(80, 5))).estimator_
    by_hand = clone(model)
    for start in range(0, N, 80):
        by_hand.partial_fit(X[start:start + 80])
    assert streamed.n_features_in_ == D  # dask-ml alone trains on column block 0: 5 features
    for name, value in by_hand.parameters().items():
        np.testing.assert_allclose(streamed.parameters()[name], value, rtol=1e-9, err_msg=name)


def test_incremental_takes_a_dask_dataframe_and_refuses_what_has_no_partial_fit(X):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(D)])
    fitted = nd.Incremental(npae.Autoencoder(**SMALL), shuffle_blocks=False).fit(dd.from_pandas(frame, npartitions=3))
    assert list(fitted.estimator_.feature_names_in_) == list(frame.columns)
    with pytest.raises(TypeError, match="Incremental trains with partial_fit, which AnomalyDetector has not"):
        nd.Incremental(npae.AnomalyDetector(npae.Autoencoder(**SMALL))).fit(_rows(X))


def test_score_reduces_block_means_for_unknown_row_counts_and_refuses_no_rows(X, fitted):
    model = fitted["Autoencoder"]
    keep = X[:, 0] > np.median(X[:, 0])
    masked = _rows(X)[da.from_array(keep, chunks=ROW_CHUNKS)]
    assert np.isnan(masked.shape[0])
    wrapper = nd.ParallelPostFit(model)
    assert wrapper.score(masked) == pytest.approx(model.score(X[keep]), rel=1e-12)
    with pytest.raises(ValueError, match="0 sample"):
        wrapper.score(_rows(X)[da.from_array(np.zeros(N, bool), chunks=ROW_CHUNKS)])
    with pytest.raises(ValueError, match="X has 4 features"):  # checked on the client, not on a worker
        wrapper.score(da.from_array(X[:, :4], chunks=(50, 4)))


def test_score_of_a_dataframe_and_of_other_estimators(X, fitted):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(D)])
    model = npae.Autoencoder(**SMALL).fit(frame)
    lazy = nd.ParallelPostFit(model).score(dd.from_pandas(frame, npartitions=3), compute=False)
    assert float(lazy.compute()) == pytest.approx(model.score(frame), rel=1e-12)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    classifier = LogisticRegression().fit(X, y)  # scored against y, as dask-ml's wrapper does
    got = nd.ParallelPostFit(classifier).score(_rows(X), da.from_array(y, chunks=ROW_CHUNKS))
    assert got == pytest.approx(classifier.score(X, y))


def test_inverse_transform_of_a_codes_dataframe_checks_the_code_names(X):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(D)])
    model = npae.Autoencoder(**SMALL).fit(frame)
    codes = pd.DataFrame(model.transform(frame), columns=model.get_feature_names_out())
    got = nd.ParallelPostFit(model).inverse_transform(dd.from_pandas(codes, npartitions=2)).compute()
    np.testing.assert_allclose(got, model.inverse_transform(codes), rtol=1e-10)
    with pytest.raises(ValueError, match="code names should match get_feature_names_out"):
        nd.ParallelPostFit(model).inverse_transform(dd.from_pandas(codes.set_axis(["z0", "z1", "z2"], axis=1),
                                                                   npartitions=2))


def test_reconstruction_error_and_a_vaes_elbo_and_likelihood_match_memory(X, fitted):
    vae, ae = fitted["VAE"], fitted["Autoencoder"]
    rows = _rows(X)
    np.testing.assert_allclose(nd.ParallelPostFit(ae).reconstruction_error(rows).compute(), ae.reconstruction_error(X),
                               rtol=1e-10)
    np.testing.assert_allclose(nd.ParallelPostFit(vae).elbo(rows, random_state=3).compute(),
                               vae.elbo(X, random_state=3), rtol=1e-10)
    np.testing.assert_allclose(nd.ParallelPostFit(vae).log_likelihood(rows, k=5).compute(),
                               vae.log_likelihood(X, k=5), rtol=1e-10)
    with pytest.raises(TypeError, match="random_state must be None or an int"):
        nd.ParallelPostFit(vae).elbo(rows, random_state=np.random.default_rng(0))


def test_from_npy_names_the_file_by_its_content_and_takes_numpy_integers(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, np.zeros((6, 2)))
    first = nd.from_npy(path, rows_per_chunk=np.int64(4))
    assert first.chunks == ((4, 2), (2,))
    np.save(path, np.ones((6, 2)))  # rewritten in place with new rows: a new graph, never the old results
    second = nd.from_npy(path, rows_per_chunk=4)
    assert second.name != first.name and float(second.sum().compute()) == 12.0
    np.save(tmp_path / "empty.npy", np.zeros((0, 2)))
    assert nd.from_npy(tmp_path / "empty.npy").shape == (0, 2)


def test_to_backend_asks_for_a_dtype_for_integer_blocks():
    with pytest.raises(ValueError, match="X has dtype int64; pass dtype='float32' or 'float64'"):
        nd.to_backend(da.zeros((4, 2), dtype="int64", chunks=2), "numpy")
