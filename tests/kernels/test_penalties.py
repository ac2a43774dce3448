"""npae.kernels.penalties against npae.penalties: the fused KL value and gradient (sparsity) and the
two-layer Gram form of the contractive penalty with compiled element-wise passes (gram)."""

import itertools
import platform

import numpy as np
import pytest

from npae import backend as B
from npae import kernels, penalties
from npae.activations import get_activation
from npae.gradcheck import check_gradients, relative_error
from npae.kernels import penalties as fast
from npae.penalties import gram, sparsity

RTOL = {"float32": 1e-6, "float64": 1e-12}


def _logits(rng, dtype):
    """(40, 8) logits: ordinary columns, saturated ones (|z| ~ 50) and one column all ~ −100."""
    z = rng.standard_normal((40, 8)) * 3 - 1
    z[:, 4] = 50.0 + rng.standard_normal(40)
    z[:, 5] = -50.0 + rng.standard_normal(40)
    z[:, 6] = np.where(rng.random(40) < 0.5, 50.0, -50.0) + rng.standard_normal(40)
    z[:, 7] = -100.0 + rng.standard_normal(40)
    return z.astype(dtype)


def _host(a):
    return np.asarray(B.to_numpy(a))


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # float32, column 7
@pytest.mark.parametrize("rho", [0.05, 0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kl_kernel_matches_the_two_reference_functions(xp, rng, dtype, rho):
    zn = _logits(rng, dtype)
    z = B.asarray(zn, dtype=dtype, backend=xp)
    value, grad = fast.kl_sparsity_and_grad(z, rho)
    want_value, want_grad = penalties.kl_sparsity(z, rho), penalties.kl_sparsity_grad(z, rho)
    assert value.dtype == want_value.dtype and grad.dtype == want_grad.dtype
    assert tuple(grad.shape) == (40, 8)
    assert np.isfinite(float(value))
    np.testing.assert_allclose(float(value), float(want_value), rtol=RTOL[dtype])
    # the all −100 column: ρ̂ = e^(−100) and 1/ρ̂ overflows float32 to −inf in both; float64 holds it
    got, want = _host(grad), _host(want_grad)
    assert np.isfinite(got[:, :7]).all()
    assert np.isfinite(got).all() == (dtype == "float64")
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype])


@pytest.mark.parametrize("rho", [0.05, 0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kl_logit_kernel_matches_the_two_reference_functions(xp, rng, dtype, rho):
    z = B.asarray(_logits(rng, dtype), dtype=dtype, backend=xp)
    value, grad = fast.kl_sparsity_and_logit_grad(z, rho)
    want_value, want_grad = penalties.kl_sparsity(z, rho), penalties.kl_sparsity_logit_grad(z, rho)
    assert value.dtype == want_value.dtype and grad.dtype == want_grad.dtype
    np.testing.assert_allclose(float(value), float(want_value), rtol=RTOL[dtype])
    got = _host(grad)
    assert np.isfinite(got).all()  # the all −100 column too: dKL/dz is −ρ/N there, in both dtypes
    np.testing.assert_allclose(got, _host(want_grad), rtol=RTOL[dtype])


def test_kl_logit_kernel_is_what_the_package_runs_on_numpy(rng):
    z = rng.standard_normal((9, 5))
    with kernels.use_kernels("fast"):
        value, grad = penalties.kl_sparsity_and_logit_grad(z, 0.1)
    want_value, want_grad = fast.kl_sparsity_and_logit_grad(z, 0.1)
    np.testing.assert_array_equal(value, want_value)
    np.testing.assert_array_equal(grad, want_grad)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shared_softplus_log_mean_sigmoid_matches_the_reference(xp, rng, dtype):
    z = B.asarray(_logits(rng, dtype), dtype=dtype, backend=xp)
    for got, want in zip(fast.log_mean_sigmoid(z), sparsity.log_mean_sigmoid(z)):
        np.testing.assert_allclose(_host(got), _host(want), rtol=RTOL[dtype])


def test_kl_kernel_is_what_the_package_runs_on_numpy(rng):
    z = rng.standard_normal((9, 5))
    with kernels.use_kernels("fast"):
        value, grad = penalties.kl_sparsity_and_grad(z, 0.1)
        same_value, same_grad = sparsity.kl_sparsity_and_grad(z, 0.1)
    want_value, want_grad = fast.kl_sparsity_and_grad(z, 0.1)
    np.testing.assert_array_equal(value, want_value)
    np.testing.assert_array_equal(grad, want_grad)
    np.testing.assert_array_equal(same_value, want_value)
    np.testing.assert_array_equal(same_grad, want_grad)
    with kernels.use_kernels("reference"):
        ref_value, ref_grad = penalties.kl_sparsity_and_grad(z, 0.1)
    np.testing.assert_array_equal(ref_value, penalties.kl_sparsity(z, 0.1))
    np.testing.assert_array_equal(ref_grad, penalties.kl_sparsity_grad(z, 0.1))


# ------------------------------------------------------------ the Gram form of the contractive penalty
needs_numba = pytest.mark.skipif(not fast.HAVE_NUMBA, reason="numba is not installed (pip install 'npae[fast]')")
GRAM_RTOL = {"float32": 1e-5, "float64": 1e-12}


def _encoder(rng, sizes, act_names, n, dtype="float64"):
    """Ws, zs (the pre-activations of a forward pass of random rows) and activations, NumPy."""
    h = rng.normal(size=(n, sizes[0]))
    Ws, zs = [], []
    for (a, b), name in zip(itertools.pairwise(sizes), act_names):
        W = rng.normal(size=(a, b)) / np.sqrt(a)
        z = h @ W + 0.3 * rng.normal(size=b)
        Ws.append(W.astype(dtype))
        zs.append(z.astype(dtype))
        h = get_activation(name).f(z)
    return Ws, zs, [get_activation(name) for name in act_names]


def _gram_reference(*args, **kwargs):
    return kernels.reference(next(k for k in kernels.KERNELS if k.owner is gram))(*args, **kwargs)


def _assert_same_penalty(got, want, rtol):
    (P, dWs, dzs), (P_ref, dWs_ref, dzs_ref) = got, want
    assert P.dtype == P_ref.dtype
    np.testing.assert_allclose(float(P), float(P_ref), rtol=rtol)
    for a, b in zip(dWs + dzs, dWs_ref + dzs_ref):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert relative_error(a, b) < rtol


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("acts", [("tanh", "sigmoid"), ("elu", "softplus"), ("sigmoid", "tanh")])
@pytest.mark.parametrize("max_elements", [None, 600])
def test_gram_kernel_matches_the_reference(rng, dtype, acts, max_elements):
    """P, dW_1, dW_2, dz_1, dz_2 of the kernel against ``gram.gram_penalty_and_grad``: one chunk, and
    (max_elements = 600: 3 rows per chunk of 11) several chunks with a short last one."""
    Ws, zs, activations = _encoder(rng, (9, 6, 4), acts, n=11, dtype=dtype)
    options = {"weight": 0.7} if max_elements is None else {"weight": 0.7, "max_elements": max_elements}
    _assert_same_penalty(fast.gram_penalty_and_grad(Ws, zs, activations, **options),
                         _gram_reference(Ws, zs, activations, **options), GRAM_RTOL[dtype])


@needs_numba
def test_gram_kernel_at_the_benchmark_shape_in_float32(rng):
    """784-256-64 (tanh, sigmoid), 128 rows: the CPU chunks (16 rows) and float32 roundings."""
    Ws, zs, activations = _encoder(rng, (784, 256, 64), ("tanh", "sigmoid"), n=128, dtype="float32")
    _assert_same_penalty(fast.gram_penalty_and_grad(Ws, zs, activations, weight=0.1),
                         _gram_reference(Ws, zs, activations, weight=0.1), GRAM_RTOL["float32"])


@needs_numba
def test_gram_kernel_partials_pass_central_differences(rng):
    """The kernel's own partials (not the reference's) against float64 central differences."""
    Ws, zs, activations = _encoder(rng, (6, 5, 3), ("tanh", "sigmoid"), n=7)
    _, dWs, dzs = fast.gram_penalty_and_grad(Ws, zs, activations, weight=1.3, max_elements=200)
    arrays = {"W0": Ws[0], "W1": Ws[1], "z0": zs[0], "z1": zs[1]}
    analytic = {"W0": dWs[0], "W1": dWs[1], "z0": dzs[0], "z1": dzs[1]}
    result = check_gradients(lambda: 1.3 * fast.gram_penalty_and_grad(Ws, zs, activations)[0], arrays, analytic)
    assert result.passed, str(result)


@pytest.mark.parametrize("case", ["depth 3", "depth 1", "mixed dtypes", "strided z", "no numba"])
def test_gram_kernel_hands_what_it_does_not_serve_to_the_reference(rng, monkeypatch, case):
    """Other depths, mixed dtypes, non-contiguous arrays and installs without numba: the reference's
    numbers exactly."""
    sizes, acts = ((7, 6, 5, 4), ("tanh",) * 3) if case == "depth 3" else ((7, 6, 4), ("tanh", "sigmoid"))
    Ws, zs, activations = _encoder(rng, sizes, acts, n=9)
    if case == "depth 1":
        Ws, zs, activations = Ws[:1], zs[:1], activations[:1]
    elif case == "mixed dtypes":
        zs[1] = zs[1].astype("float32")
        Ws[1] = Ws[1].astype("float32")
    elif case == "strided z":
        zs[0] = np.asfortranarray(zs[0])
    elif case == "no numba":
        monkeypatch.setattr(fast, "_gram_factors_compiled", None)
    got = fast.gram_penalty_and_grad(Ws, zs, activations, weight=0.5)
    want = _gram_reference(Ws, zs, activations, weight=0.5)
    assert float(got[0]) == float(want[0])
    for a, b in zip(got[1] + got[2], want[1] + want[2]):
        np.testing.assert_array_equal(a, b)


@needs_numba
def test_gram_kernel_is_what_the_contractive_penalty_runs_on_numpy(rng):
    """In fast mode "auto" reaches the kernel through the dispatcher; in reference mode the reference."""
    Ws, zs, activations = _encoder(rng, (9, 6, 4), ("tanh", "sigmoid"), n=5)
    want_fast = fast.gram_penalty_and_grad(Ws, zs, activations, weight=0.2)
    want_ref = _gram_reference(Ws, zs, activations, weight=0.2)
    for mode, want in (("fast", want_fast), ("reference", want_ref)):
        with kernels.use_kernels(mode):
            got = penalties.contractive_penalty_and_grad(Ws, zs, activations, weight=0.2, method="auto")
        assert float(got[0]) == float(want[0])
        for a, b in zip(got[1] + got[2], want[1] + want[2]):
            np.testing.assert_array_equal(a, b)


@needs_numba
def test_gram_kernel_loops_vectorise():
    """Both compiled passes run on packed registers (AVX2 ymm or wider) for float32."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("needs x86-64")
    from npae.kernels import _compiled

    rng = np.random.default_rng(1)
    Ws, zs, activations = _encoder(rng, (9, 6, 4), ("tanh", "sigmoid"), n=5, dtype="float32")
    fast.gram_penalty_and_grad(Ws, zs, activations)  # compiles the float32 signatures
    for loop in (fast._gram_factors_compiled, fast._gram_backward_compiled):
        report = [r for sig, r in _compiled.packed_instructions(loop).items() if "float32" in sig]
        packed = set().union(*(r["packed"] for r in report))
        assert any(k.split()[0] in ("vmulps", "mulps", "vfmadd231ps", "vfmadd213ps", "vfmadd132ps")
                   and k.split()[1] in ("ymm", "zmm") for k in packed), packed
