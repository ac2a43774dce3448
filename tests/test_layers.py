import numpy as np
import pytest

from npae import backend as B
from npae.gradcheck import check_layer
from npae.layers import Activation, Dense, Sequential
from tests.helpers import to_backend


def _dense(xp, fan_in=5, fan_out=4, seed=0, dtype="float64"):
    return Dense(fan_in, fan_out, rng=seed, dtype=dtype, backend=xp)


def test_dense_forward_is_x_at_W_plus_b(xp, rng):
    layer = _dense(xp)
    W, b = B.to_numpy(layer.params["W"]), B.to_numpy(layer.params["b"])
    assert W.shape == (5, 4) and b.shape == (4,)
    x = rng.standard_normal((3, 5))
    np.testing.assert_allclose(B.to_numpy(layer.forward(to_backend(xp, x))), x @ W + b, rtol=1e-12)


def test_dense_backward_passes_gradcheck(xp, rng):
    layer = _dense(xp)
    layer.params["b"] = to_backend(xp, rng.standard_normal(4))
    result = check_layer(layer, to_backend(xp, rng.standard_normal((6, 5))))
    assert result.passed, str(result)
    assert set(result.errors) == {"input", "W", "b"}


def test_dense_backward_accumulates_into_grads(xp, rng):
    layer = _dense(xp)
    x, g = to_backend(xp, rng.standard_normal((3, 5))), to_backend(xp, rng.standard_normal((3, 4)))
    layer.forward(x)
    layer.backward(g)
    once = B.to_numpy(layer.grads["W"]).copy()
    layer.backward(g)
    np.testing.assert_allclose(B.to_numpy(layer.grads["W"]), 2 * once)
    layer.zero_grad()
    assert not np.any(B.to_numpy(layer.grads["W"]))


def test_backward_before_forward_is_a_clear_error(xp):
    with pytest.raises(RuntimeError, match=r"Dense.backward\(\) was called before forward\(\)"):
        _dense(xp).backward(to_backend(xp, np.ones((2, 4))))
    with pytest.raises(RuntimeError, match="before forward"):
        Activation("tanh").backward(to_backend(xp, np.ones((2, 4))))


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "softplus", "elu", "leaky_relu"])
def test_sequential_backward_passes_gradcheck(xp, act):
    net = Sequential([Dense(5, 6, rng=1, dtype="float64", backend=xp), Activation(act),
                      Dense(6, 3, rng=2, dtype="float64", backend=xp)])
    x = np.random.default_rng(3).standard_normal((7, 5))
    z = B.to_numpy(net.layers[0].forward(to_backend(xp, x)))
    assert np.min(np.abs(z)) > 1e-3  # away from the ReLU kink
    result = check_layer(net, to_backend(xp, x))
    assert result.passed, str(result)
    assert set(net.params) == {"0.W", "0.b", "1.W", "1.b"}


@pytest.mark.parametrize("init", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"])
def test_initializers_have_the_documented_variance(init):
    W = B.to_numpy(Dense(400, 300, init=init, rng=0, dtype="float64", backend=B.get_backend("numpy")).params["W"])
    expected = 2.0 / (400 + 300) if init.startswith("glorot") else 2.0 / 400
    assert abs(W.var() / expected - 1) < 0.03
    if init.endswith("uniform"):
        limit = np.sqrt(3 * expected)
        assert W.max() <= limit and W.min() >= -limit


def test_same_seed_gives_same_weights_on_every_backend(xp):
    a = B.to_numpy(Dense(5, 4, rng=7, dtype="float32", backend=xp).params["W"])
    b = B.to_numpy(Dense(5, 4, rng=7, dtype="float32", backend=B.get_backend("numpy")).params["W"])
    np.testing.assert_array_equal(a, b)


def test_first_layer_can_skip_the_input_gradient_without_changing_parameter_gradients(xp, rng):
    net = Sequential([Dense(5, 6, rng=1, dtype="float64", backend=xp), Activation("relu"),
                      Dense(6, 3, rng=2, dtype="float64", backend=xp)])
    x, g = to_backend(xp, rng.standard_normal((4, 5))), to_backend(xp, rng.standard_normal((4, 3)))
    net.forward(x)
    assert net.backward(g) is not None
    full = {k: B.to_numpy(v).copy() for k, v in net.grads.items()}
    net.zero_grad()
    net.forward(x)
    assert net.backward(g, input_grad=False) is None
    for k, v in net.grads.items():
        np.testing.assert_array_equal(B.to_numpy(v), full[k])


def test_pickling_a_layer_drops_its_forward_cache_and_keeps_its_parameters(rng):
    import pickle

    net = Sequential([Dense(5, 6, rng=1, dtype="float64", backend=B.get_backend("numpy")), Activation("tanh")])
    x = rng.standard_normal((1000, 5))
    net.forward(x)
    copy = pickle.loads(pickle.dumps(net))
    assert copy.layers[0]._x is None and copy.layers[1]._z is None
    assert net.layers[0]._x is x  # the original keeps its cache
    for key, value in net.params.items():
        np.testing.assert_array_equal(copy.params[key], value)
    assert len(pickle.dumps(net)) < 1000 * 5 * 8 / 4  # far smaller than the cached batch
    np.testing.assert_array_equal(copy.forward(x), net.forward(x))


@pytest.mark.parametrize("mode", ["reference", "fast"])
@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_infer_returns_what_forward_returns_and_keeps_no_cache(xp, rng, mode, act):
    import npae

    net = Sequential([_dense(xp, 5, 4, seed=1), Activation(act), _dense(xp, 4, 3, seed=2)])
    x = to_backend(xp, rng.standard_normal((6, 5)))
    with npae.kernels.use_kernels(mode):
        inferred = net.infer(x)
        assert all(getattr(layer, name) is None for layer in net.layers for name in layer._caches)
        forwarded = net.forward(x)
        cached = [getattr(layer, name) for layer in net.layers for name in layer._caches]
        net.infer(to_backend(xp, rng.standard_normal((2, 5))))  # another batch size
    np.testing.assert_array_equal(B.to_numpy(inferred), B.to_numpy(forwarded))
    after = [getattr(layer, name) for layer in net.layers for name in layer._caches]
    assert all(a is b for a, b in zip(after, cached, strict=True))
