"""The kernel switch: modes, the environment variable, and which code a call runs."""

import os
import subprocess
import sys

import numpy as np
import pytest

import npae
from npae import activations, kernels, losses, ops
from npae import backend as B


def test_fast_is_the_default_and_set_kernels_switches_and_returns_the_mode():
    assert npae.get_kernels() == "fast"
    try:
        assert npae.set_kernels("reference") == "reference"
        assert npae.get_kernels() == "reference"
    finally:
        npae.set_kernels("fast")


def test_an_unknown_mode_is_refused_with_the_valid_ones_and_nothing_changes():
    with pytest.raises(ValueError, match=r"kernels.*'fast'"):
        npae.set_kernels("turbo")
    assert npae.get_kernels() == "fast"


def test_use_kernels_restores_the_previous_mode_even_after_an_error():
    with pytest.raises(RuntimeError):
        with kernels.use_kernels("reference"):
            assert npae.get_kernels() == "reference"
            raise RuntimeError("boom")
    assert npae.get_kernels() == "fast"


def test_environment_variable_selects_the_reference_at_import():
    env = {**os.environ, "NPAE_KERNELS": "reference"}
    out = subprocess.run([sys.executable, "-c", "import npae; print(npae.get_kernels())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "reference"


def test_every_table_entry_is_installed_and_keeps_the_reference_docstring():
    for spec in kernels.KERNELS:
        installed = spec.owner.__dict__[spec.name] if isinstance(spec.owner, type) else getattr(spec.owner, spec.name)
        assert spec in installed.__npae_kernels__
        reference = kernels.reference(spec)
        assert reference is not installed and reference is not spec.kernel
        assert installed.__doc__ == reference.__doc__
        assert spec.kernel.__doc__ and "Replaces" in spec.kernel.__doc__  # it names what it replaces


def _spy(monkeypatch, spec):
    calls = []
    original = spec.kernel

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    patched = kernels.Kernel(**{**spec.__dict__, "kernel": spy})
    others = [k for k in kernels.KERNELS if (k.owner, k.name) == (spec.owner, spec.name) and k is not spec]
    dispatcher = kernels._dispatcher([patched, *others], kernels.reference(spec))
    monkeypatch.setattr(spec.owner, spec.name, dispatcher)
    return calls


def _spec(owner, name, backend="numpy"):
    return next(k for k in kernels.KERNELS if k.owner is owner and k.name == name and backend in k.backends)


def test_fast_mode_calls_the_kernel_on_numpy_and_the_reference_elsewhere(monkeypatch):
    calls = _spy(monkeypatch, _spec(ops, "sigmoid"))
    ops.sigmoid(np.zeros(3))
    assert len(calls) == 1
    strict = pytest.importorskip("array_api_strict")
    ops.sigmoid(B.asarray(np.zeros(3), backend=B.get_backend("array_api_strict")))
    assert len(calls) == 1  # array_api_strict is not served: the reference ran
    assert strict is not None


def test_reference_mode_never_calls_a_kernel(monkeypatch):
    calls = _spy(monkeypatch, _spec(activations.ReLU, "f"))
    relu = activations.ReLU()
    with kernels.use_kernels("reference"):
        relu.f(np.ones(4))
    assert calls == []
    relu.f(np.ones(4))
    assert calls == [1]


def test_kernels_for_lists_the_numpy_kernels():
    names = {(k.owner, k.name) for k in kernels.kernels_for("numpy")}
    assert (losses, "bce_with_logits_and_grad") in names
    assert kernels.kernels_for("array_api_strict") == []


def test_a_re_exported_reference_reaches_the_same_dispatcher():
    from npae import penalties

    assert penalties.kl_sparsity_and_grad is penalties.sparsity.kl_sparsity_and_grad
    assert penalties.kl_sparsity_and_grad.__npae_kernel__.owner is penalties.sparsity


# ---------------------------------------------------------------- where a mode applies (issue 21, items 14, 15)
def _tiny_fit_data():
    return np.random.default_rng(0).random((64, 6))


def test_a_fit_keeps_the_mode_it_started_with_when_another_thread_switches(monkeypatch):
    """set_kernels from another thread changes the process default, not a running fit."""
    import threading

    spec = next(k for k in kernels.KERNELS if k.owner is npae.layers.Dense and k.name == "forward")
    calls = _spy(monkeypatch, spec)
    seen = []

    class SwitchFromAnotherThread(npae.training.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append(len(calls))
            if epoch == 0:
                t = threading.Thread(target=npae.set_kernels, args=("reference",))
                t.start()
                t.join()

    try:
        npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=3, batch_size=16, verbose=0,
                         random_state=0).fit(_tiny_fit_data(), callbacks=[SwitchFromAnotherThread()])
        assert npae.get_kernels() == "reference"  # the process default did change
    finally:
        npae.set_kernels("fast")
    assert seen[0] > 0 and len(calls) > seen[1] > seen[0]  # the kernel kept serving after the switch


def test_set_kernels_hammered_from_another_thread_never_breaks_a_fit():
    """The fit runs wholly in the mode in force when it started (whichever that was), never a mix."""
    import threading

    X = _tiny_fit_data()
    stop = threading.Event()

    def toggle():
        while not stop.is_set():
            for mode in ("reference", "fast"):
                npae.set_kernels(mode)

    def fit():
        return npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=4, batch_size=4, verbose=0,
                                random_state=0).fit(X)

    expected = {}
    for mode in ("fast", "reference"):
        with kernels.use_kernels(mode):
            expected[mode] = {k: np.array(v) for k, v in fit().parameters().items()}
    t = threading.Thread(target=toggle)
    t.start()
    try:
        model = fit()
    finally:
        stop.set()
        t.join()
        npae.set_kernels("fast")
    got = {k: np.array(v) for k, v in model.parameters().items()}
    matches = [mode for mode, params in expected.items() if all(np.array_equal(got[k], v) for k, v in params.items())]
    assert len(matches) == 1, "the fit mixed the two modes"


def test_use_kernels_is_local_to_its_thread():
    import threading

    seen = {}
    with kernels.use_kernels("reference"):
        t = threading.Thread(target=lambda: seen.setdefault("other", npae.get_kernels()))
        t.start()
        t.join()
        assert npae.get_kernels() == "reference"
    assert seen["other"] == "fast" and npae.get_kernels() == "fast"


@pytest.fixture
def kernels_env(monkeypatch):
    """Set NPAE_KERNELS as if at a fresh start (the process default is read on first use)."""
    def set_env(value):
        monkeypatch.setenv("NPAE_KERNELS", value)
        monkeypatch.setattr(B, "_kernel_default", None)
    yield set_env
    B._kernel_default = "fast"


def test_a_bad_npae_kernels_is_one_clear_error_where_the_mode_is_used(kernels_env):
    """(import npae itself under a bad value: tests/cli/test_info.py runs it in a subprocess)"""
    kernels_env("bogus")
    with pytest.raises(ValueError, match=r"NPAE_KERNELS='bogus' is not a valid kernel mode; expected one of "
                                         r"'reference', 'fast' \(any case\), or unset it"):
        npae.get_kernels()
    model = npae.Autoencoder(hidden_sizes=(3,), latent_dim=2, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="NPAE_KERNELS='bogus'"):
        model.fit(np.random.default_rng(0).random((8, 4)))
    assert not hasattr(model, "history_")  # refused before anything changed
    assert npae.set_kernels("reference") == "reference" and npae.get_kernels() == "reference"


@pytest.mark.parametrize("value", ["REFERENCE", " Reference "])
def test_npae_kernels_is_read_case_insensitively(kernels_env, value):
    kernels_env(value)
    assert npae.get_kernels() == "reference"


def test_one_reference_dispatches_to_the_kernel_of_each_backend(monkeypatch):
    torch = pytest.importorskip("torch")
    numpy_calls = _spy(monkeypatch, _spec(activations.ReLU, "f"))
    relu = activations.ReLU()
    relu.f(np.ones(3))
    assert numpy_calls == [1]
    torch_spec = _spec(activations.ReLU, "f", "torch")
    torch_calls = _spy(monkeypatch, torch_spec)
    out = relu.f(torch.tensor([-1.0, 2.0]))
    assert torch_calls == [1] and out.tolist() == [0.0, 2.0]
    relu.f(np.ones(3))
    assert torch_calls == [1]  # NumPy arrays still reach NumPy's kernel
