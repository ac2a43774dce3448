"""npae.kernels.torch_backend: each torch kernel against its reference, on torch tensors.

The same kernels run on a CUDA device; CI has none, so these run on the CPU.
"""

import numpy as np
import pytest

from npae import backend as B
from npae import kernels, layers, losses, ops
from npae import optimizers as O
from npae.activations import ReLU, Sigmoid

torch = pytest.importorskip("torch")


#: the CPU always; a CUDA device where there is one (benchmarks/gpu_session.sh runs this file there)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def _t(a, device="cpu"):
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def _np(t):
    return t.cpu().numpy()


def _reference(owner, name):
    spec = next(k for k in kernels.KERNELS if k.owner is owner and k.name == name and "torch" in k.backends)
    return spec, kernels.reference(spec)


def test_every_torch_kernel_is_dispatched_on_torch_tensors():
    served = {(k.owner, k.name) for k in kernels.kernels_for("torch")}
    assert (O.Adam, "_update") in served and (layers.Dense, "forward") in served
    assert kernels.kernels_for("array_api_strict") == []


@pytest.mark.parametrize("cls, weight_decay", [(O.Adam, 0.0), (O.AdamW, 0.01)])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_fused_adam_matches_the_textbook_update(cls, weight_decay, dtype, rtol, rng, device):
    p0 = rng.standard_normal((40, 7)).astype(dtype)
    grads = [(rng.standard_normal(p0.shape) * 10.0 ** rng.integers(-4, 2)).astype(dtype) for _ in range(25)]
    out = {}
    for mode in ("fast", "reference"):
        opt, param = cls(1e-3, weight_decay=weight_decay), _t(p0.copy(), device)
        with kernels.use_kernels(mode):
            for g in grads:
                opt.step([(param, _t(g, device))])
        out[mode] = (_np(param), *(_np(a) for a in opt.moments()[0]))
    assert out["fast"][0].dtype == np.dtype(dtype)
    np.testing.assert_allclose(out["fast"][0], out["reference"][0], rtol=rtol, atol=rtol * 1e-2)
    for got, want in zip(out["fast"][1:], out["reference"][1:]):
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < rtol


def test_fused_adam_continues_a_run_across_mode_switches(rng):
    p0 = rng.standard_normal((6, 4))
    grads = [rng.standard_normal(p0.shape) for _ in range(6)]
    ref_opt, ref = O.Adam(0.01), _t(p0.copy())
    with kernels.use_kernels("reference"):
        for g in grads:
            ref_opt.step([(ref, _t(g))])
    opt, param = O.Adam(0.01), _t(p0.copy())
    for i, g in enumerate(grads):
        with kernels.use_kernels("fast" if i % 2 else "reference"):
            opt.step([(param, _t(g))])
    np.testing.assert_allclose(param.numpy(), ref.numpy(), rtol=1e-12)


def _dense(bias):
    layer = layers.Dense(5, 3, rng=0, dtype="float64", backend=B.get_backend("torch"))
    layer.params["b"] += _t(bias, layer.params["b"].device)
    return layer


def test_dense_forward_and_backward_match_the_reference(rng):
    on = B.get_backend("torch").device  # the torch backend's device: CUDA where there is one
    x, g = _t(rng.standard_normal((8, 5)), on), _t(rng.standard_normal((8, 3)), on)
    bias = rng.standard_normal(3)
    results = {}
    for mode in ("fast", "reference"):
        layer = _dense(bias)
        with kernels.use_kernels(mode):
            layer.zero_grad()
            z = layer.forward(x)
            dx = layer.backward(g)
            layer.backward(g, input_grad=False)  # a second pass adds (the contractive penalty does)
        results[mode] = (z, dx, layer.grads["W"], layer.grads["b"])
    assert results["fast"][2] is not None
    for got, want in zip(results["fast"], results["reference"]):
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-12)


def test_dense_infer_matches_the_reference_and_keeps_no_cache(rng):
    on = B.get_backend("torch").device
    x, y = _t(rng.standard_normal((8, 5)), on), _t(rng.standard_normal((4, 5)), on)
    layer = _dense(rng.standard_normal(3))
    z = layer.forward(x)
    fast = layer.infer(y)
    with kernels.use_kernels("reference"):
        ref = layer.infer(y)
    np.testing.assert_allclose(_np(fast), _np(ref), rtol=1e-12)
    np.testing.assert_allclose(_np(layer.infer(x)), _np(z), rtol=1e-12)
    assert layer._x is x  # inference left forward's cache alone


def test_relu_and_its_backward_are_bit_exact(rng, device):
    z = _t(rng.standard_normal((6, 9)).astype(np.float32), device)
    z[0, :3] = 0.0
    g = _t(rng.standard_normal((6, 9)).astype(np.float32), device)
    act = layers.Activation(ReLU())
    with kernels.use_kernels("reference"):
        h_ref, d_ref = act.forward(z), act.backward(g)
    h, d = act.forward(z), act.backward(g)
    assert torch.equal(h, h_ref) and torch.equal(d, d_ref)


def test_non_relu_activation_backward_takes_the_reference_product(rng):
    z, g = _t(rng.standard_normal((4, 5))), _t(rng.standard_normal((4, 5)))
    act = layers.Activation(Sigmoid())
    with kernels.use_kernels("reference"):
        act.forward(z)
        want = act.backward(g)
    act.forward(z)
    np.testing.assert_allclose(act.backward(g).numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_matches_the_stable_reference_even_far_in_the_tails(dtype):
    z = _t(np.linspace(-100.0, 40.0, 2801).astype(dtype))
    _, reference = _reference(ops, "sigmoid")
    want = reference(z)
    assert float(want[0]) > 0.0  # the reference keeps the tail (subnormal in float32)
    np.testing.assert_allclose(ops.sigmoid(z).numpy(), want.numpy(), rtol=1e-6)
    body = z[z > -60.0]  # torch.sigmoid's own branch
    np.testing.assert_allclose(ops.sigmoid(body).numpy(), reference(body).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_value_and_gradient_match_the_reference(dtype, rng, device):
    x = _t(rng.random((7, 11)).astype(dtype), device)
    y = (rng.standard_normal((7, 11)) * 8.0).astype(dtype)
    y[0, :4] = [-100.0, -90.0, 90.0, 100.0]  # past float32's exp overflow on both sides
    y = _t(y, device)
    _, reference = _reference(losses, "bce_with_logits_and_grad")
    want_v, want_g = reference(x, y)
    got_v, got_g = losses.bce_with_logits_and_grad(x, y)
    np.testing.assert_allclose(_np(got_v), _np(want_v), rtol=1e-6)
    np.testing.assert_allclose(_np(got_g), _np(want_g), rtol=1e-6, atol=1e-7)


def test_cpu_float32_bce_runs_npaes_compiled_pass_and_others_the_torch_calls(rng, monkeypatch):
    from npae.kernels import losses as array_losses
    from npae.kernels import torch_backend

    if array_losses._bce_terms_compiled is None:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")
    calls = []
    compiled = array_losses._bce_terms_compiled
    monkeypatch.setattr(array_losses, "_bce_terms_compiled", lambda *a: calls.append(1) or compiled(*a))
    x = _t(rng.random((5, 9)).astype(np.float32))
    y = _t((rng.standard_normal((5, 9)) * 4).astype(np.float32))
    value, grad = torch_backend.bce_with_logits_and_grad(x, y)
    assert calls == [1] and isinstance(value, torch.Tensor) and value.shape == (5,) and grad.dtype == torch.float32
    numpy_value, numpy_grad = array_losses.bce_with_logits_and_grad(x.numpy(), y.numpy())
    np.testing.assert_array_equal(grad.numpy(), numpy_grad)
    np.testing.assert_allclose(value.numpy(), numpy_value, rtol=1e-6)
    calls.clear()
    torch_backend.bce_with_logits_and_grad(x.double(), y.double())  # float64: PyTorch's calls
    torch_backend.bce_with_logits_and_grad(x, y.T.contiguous().T)  # a transposed view: PyTorch's calls
    assert calls == []


def test_a_model_trains_alike_on_both_modes_of_the_torch_backend():
    import npae

    X = np.random.default_rng(0).random((64, 12)).astype(np.float32)
    losses_by_mode = {}
    for mode in ("fast", "reference"):
        with kernels.use_kernels(mode):
            model = npae.Autoencoder(hidden_sizes=(8,), latent_dim=3, epochs=2, batch_size=16, random_state=0,
                                     backend="torch", verbose=0).fit(_t(X))
        losses_by_mode[mode] = model.history_["loss"]
    np.testing.assert_allclose(losses_by_mode["fast"], losses_by_mode["reference"], rtol=1e-5)
