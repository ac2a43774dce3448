"""Property-based tests: any small model that Hypothesis can build is correct."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import npae
from npae.activations import ACTIVATIONS
from npae.gradcheck import check_model

SMOOTH = ["identity", "tanh", "sigmoid", "softplus"]  # C-infinity; ELU is only C1 (its f'' jumps at 0)

models = st.fixed_dictionaries({
    "hidden_sizes": st.lists(st.integers(1, 6), min_size=0, max_size=2).map(tuple),
    "latent_dim": st.integers(1, 4),
    "activation": st.sampled_from(SMOOTH),
    "latent_activation": st.sampled_from(SMOOTH),
    "loss": st.sampled_from(["bce", "mse"]),
    "random_state": st.integers(0, 2**16),
})
shapes = st.tuples(st.integers(1, 9), st.integers(1, 7))
EXAMPLES = int(os.environ.get("NPAE_HYPOTHESIS_EXAMPLES", "25"))  # raise it for a deeper search
quick = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


@quick
@given(params=models, shape=shapes, seed=st.integers(0, 2**16))
def test_every_generated_model_passes_the_gradient_check(params, shape, seed):
    X = np.random.default_rng(seed).random(shape)
    ae = npae.Autoencoder(**params, verbose=0, dtype="float64")
    # Finite differences of the loss cannot resolve a gradient far below the loss itself: the
    # rounding error of a difference quotient is about eps*|f|/h. Hypothesis readily builds such
    # nets (width-1 sigmoid stacks, first-layer gradients 1e-7 of the loss), so those are skipped,
    # and the 4th-order stencil at h = 1e-3 (truncation O(h^4)) keeps rounding small for the rest.
    loss, grads = ae.loss_and_grad(X)
    assume(all(np.linalg.norm(g) > 1e-5 * (abs(loss) + 1.0) for g in grads.values()))
    result = check_model(ae, X, h=1e-3, order=4)
    assert result.passed, str(result)


@quick
@given(params=models, shape=shapes, dtype=st.sampled_from(["float32", "float64"]),
       activation=st.sampled_from(sorted(ACTIVATIONS)))
def test_transform_and_inverse_transform_shapes_and_dtypes(params, shape, dtype, activation):
    X = np.random.default_rng(0).random(shape)
    params = {**params, "activation": activation}
    ae = npae.Autoencoder(**params, epochs=1, batch_size=4, dtype=dtype, verbose=0).fit(X)
    Z = ae.transform(X)
    assert Z.shape == (shape[0], params["latent_dim"]) and Z.dtype == np.dtype(dtype)
    X_hat = ae.inverse_transform(Z)
    assert X_hat.shape == shape and X_hat.dtype == np.dtype(dtype)
    assert ae.score_samples(X).shape == (shape[0],)


@settings(max_examples=10, deadline=None)
@given(params=models, shape=shapes)
def test_save_then_load_is_the_identity(params, shape, tmp_path_factory):
    X = np.random.default_rng(1).random(shape)
    ae = npae.Autoencoder(**params, epochs=1, batch_size=4, verbose=0).fit(X)
    path = tmp_path_factory.mktemp("ck") / "m.npz"
    ae.save(path)
    loaded = npae.load(path)
    assert loaded.get_params() == ae.get_params()
    for k, v in ae.parameters().items():
        np.testing.assert_array_equal(loaded.parameters()[k], v)
    np.testing.assert_array_equal(loaded.transform(X), ae.transform(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_give_finite_losses_and_gradients(dtype):
    X = np.array([[0.0, 1.0, 0.0, 1.0]] * 4)
    ae = npae.Autoencoder(hidden_sizes=(3,), latent_dim=2, dtype=dtype, verbose=0, random_state=0)
    ae.loss_and_grad(X)
    for v in ae.parameters().values():
        v *= 1e4  # drive the logits to about ±1e4 and beyond
    loss, grads = ae.loss_and_grad(X)
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
