"""npae.kernels.optimizers: Adam in place with folded scalars, against the textbook Adam."""

import numpy as np
import pytest

from npae import kernels
from npae import optimizers as O


def _run(opt, p0, grads, mode):
    param = p0.copy()
    with kernels.use_kernels(mode):
        for g in grads:
            opt.step([(param, g)])
    return param, opt.moments()[0]


@pytest.fixture(params=["numba", "arrays"])
def adam_kernel(request, monkeypatch):
    """Both forms of the Adam kernel: the compiled loop (when numba is installed) and the array one."""
    from npae.kernels import optimizers as fast

    if request.param == "numba" and not fast.HAVE_NUMBA:
        pytest.skip("numba is not installed (pip install 'npae[fast]')")
    if request.param == "arrays":
        monkeypatch.setattr(fast, "_adam_compiled", None)
    return request.param


@pytest.mark.parametrize("cls, weight_decay", [(O.Adam, 0.0), (O.AdamW, 0.01)])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-6)])
def test_adam_kernel_matches_the_textbook_update(adam_kernel, cls, weight_decay, dtype, rtol, rng):
    p0 = rng.standard_normal((50, 7)).astype(dtype)
    # gradients of mixed scales, as the layers of a network give
    grads = [(rng.standard_normal(p0.shape) * 10.0 ** rng.integers(-4, 2)).astype(dtype) for _ in range(30)]
    fast, (m_fast, v_fast) = _run(cls(1e-3, weight_decay=weight_decay), p0, grads, "fast")
    ref, (m_ref, v_ref) = _run(cls(1e-3, weight_decay=weight_decay), p0, grads, "reference")
    assert fast.dtype == ref.dtype == np.dtype(dtype)
    np.testing.assert_allclose(fast, ref, rtol=rtol, atol=rtol * 1e-2)
    for got, want in ((m_fast, m_ref), (v_fast, v_ref)):
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < rtol


def test_adam_kernel_on_a_non_contiguous_parameter_falls_back_to_arrays(rng):
    p0 = rng.standard_normal((8, 6))
    grads = [rng.standard_normal((6, 8)) for _ in range(5)]
    ref, _ = _run(O.Adam(0.01), p0.T.copy(), grads, "reference")
    param = p0.T  # a transposed view: not C-contiguous, updated in place all the same
    opt = O.Adam(0.01)
    for g in grads:
        opt.step([(param, g)])
    np.testing.assert_allclose(param, ref, rtol=1e-12)
    np.testing.assert_allclose(p0.T, ref, rtol=1e-12)


def test_switching_modes_between_steps_continues_the_same_adam_run(rng):
    p0 = rng.standard_normal((6, 4))
    grads = [rng.standard_normal(p0.shape) for _ in range(6)]
    ref, _ = _run(O.Adam(0.01), p0, grads, "reference")
    opt, param = O.Adam(0.01), p0.copy()
    for i, g in enumerate(grads):
        with kernels.use_kernels("fast" if i % 2 else "reference"):
            opt.step([(param, g)])
    np.testing.assert_allclose(param, ref, rtol=1e-12)


def test_the_compiled_adam_loop_vectorises(rng):
    """The loop's machine code holds packed square roots and divisions (x86), not one per element:
    numba's default error model guards each division and kept it scalar."""
    import platform

    from npae.kernels import _compiled
    from npae.kernels import optimizers as fast

    if not fast.HAVE_NUMBA or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("needs numba on x86-64")
    param = rng.standard_normal(64).astype("float32")
    O.Adam(1e-3).step([(param, param.copy())])  # compiles the float32 signature
    report = [r for sig, r in _compiled.packed_instructions(fast._adam_compiled).items() if "float32" in sig]
    packed = set().union(*(r["packed"] for r in report))
    assert any(k.split()[0] in ("vsqrtps", "sqrtps") for k in packed), packed
    assert any(k.split()[0] in ("vdivps", "divps", "vrcpps", "rcpps") for k in packed), packed
