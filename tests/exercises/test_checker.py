"""The checker itself: course order, describe(), reports that name mistakes without the solution,
and the failures every exercise shares (unwritten, raising, wrong namespace, dtype, in-place)."""

import numpy as np
import pytest
from array_api_compat import array_namespace

import npae
import npae.exercises as ex
from npae.exercises.registry import REGISTRY

REQUIRED = [
    "dense_forward", "dense_backward", "sigmoid_derivative", "tanh_derivative", "relu_derivative",
    "tanh_second_derivative", "sigmoid_second_derivative", "mse_grad", "bce_with_logits",
    "bce_with_logits_grad", "l1_activity_grad", "kl_sparsity_grad", "masking_noise", "gaussian_noise",
    "contractive_penalty", "contractive_penalty_grad", "contractive_jacobian", "gaussian_kl",
    "gaussian_kl_grad", "reparameterize_backward", "iwae_bound", "adam_step",
]


def _reference(name):
    """The registry's reference, wrapped to the exercise's signature (one array or a tuple)."""
    exercise = REGISTRY[name]

    def fn(*args):
        out = exercise.reference(**dict(zip(exercise.arguments, args)))
        return out[0] if len(out) == 1 else out

    return fn


def test_names_cover_the_course_in_chapter_order():
    names = ex.names()
    assert set(REQUIRED) <= set(names) and len(names) == len(set(names))
    chapters = [REGISTRY[n].chapter for n in names]
    assert chapters == sorted(chapters)
    assert ex.names(chapter=4) == ["contractive_penalty", "contractive_penalty_grad", "contractive_jacobian"]
    assert npae.exercises is ex


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_exercise_has_a_description_with_signature_and_shapes(name):
    text = ex.describe(name)
    exercise = REGISTRY[name]
    assert f"def {exercise.signature}:" in text
    for argument in exercise.arguments:
        assert argument in text
    assert "shape" in text and f"check({name!r}" in text


def test_unknown_exercise_is_refused_with_close_names():
    with pytest.raises(ValueError, match="Did you mean 'dense_backward'"):
        ex.check("dense_backwards", lambda *a: None)
    with pytest.raises(ValueError, match="Unknown exercise"):
        ex.describe("nope")
    with pytest.raises(TypeError, match="needs a function"):
        ex.check("dense_forward", 3)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_report_of_a_wrong_answer_never_shows_the_solution(name):
    exercise, seed = REGISTRY[name], 5
    inputs = exercise.make_inputs(np.random.default_rng(seed), **exercise.cases[0])
    expected = exercise.reference(**inputs)
    reference = _reference(name)

    def wrong(*args):  # off by 1.37: the checker must say so without printing what was expected
        out = reference(*args)
        return tuple(o * 1.37 for o in out) if isinstance(out, tuple) else out * 1.37

    result = ex.check(name, wrong, random_state=seed)
    text = str(result)
    assert not result.passed
    assert "array(" not in text and "[[" not in text
    for e in expected:
        values = np.asarray(e, dtype=float).ravel()
        for v in values[(np.abs(values) > 1e-3) & (np.abs(values - np.round(values)) > 1e-9)][:20]:
            for shown in (f"{v:.4g}", f"{v:.3e}", f"{v:.6f}", f"{1.37 * v:.4g}"):
                if len(shown.lstrip("-").replace(".", "").rstrip("0")) >= 3:  # skip round numbers like 0.5
                    assert shown not in text, (shown, text)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_correct_answer_passes_with_fresh_inputs_every_time(name):
    assert ex.check(name, _reference(name)).passed
    assert ex.check(name, _reference(name)).passed


def test_a_stub_fails_once_and_says_to_write_it():
    def dense_forward(x, W, b):
        raise NotImplementedError

    result = ex.check("dense_forward", dense_forward)
    assert not result and result.mistakes == ["not_implemented"]
    assert str(result).count("replace `raise NotImplementedError`") == 1
    # headlined as what it is, as the docs promise: not a FAILED to fix, an exercise to write
    assert repr(result) == str(result) and str(result).startswith("dense_forward: not implemented yet")
    assert "FAILED" not in str(result)


def test_numpy_calls_on_the_strict_device_fail_with_the_namespace_advice():
    result = ex.check("tanh_derivative", lambda z: 1 - np.tanh(z) ** 2, backend="array_api_strict", random_state=0)
    assert not result.passed and "error" in result.mistakes
    assert "array_namespace" in str(result)
    assert ex.check("tanh_derivative", lambda z: 1 - np.tanh(z) ** 2, backend="numpy", random_state=0).passed


def test_reduction_methods_fail_on_the_strict_device_with_advice():
    result = ex.check("dense_backward", lambda x, W, b, g: (g @ W.T, x.T @ g, g.sum(0)),
                      backend="array_api_strict", random_state=0)
    assert not result.passed and "xp.sum(x, axis=0)" in str(result)


def test_a_host_result_for_device_inputs_is_the_wrong_namespace():
    from npae import backend as B

    result = ex.check("mse_grad", lambda x, x_hat: 2 * (B.to_numpy(x_hat) - B.to_numpy(x)),
                      backend="array_api_strict", random_state=0)
    assert not result.passed and "wrong_namespace" in result.mistakes


def test_a_float64_constant_that_upcasts_float32_is_named():
    def relu_derivative(z):
        xp = array_namespace(z)
        return xp.astype(z > 0, xp.float64)  # right values, but always float64

    result = ex.check("relu_derivative", relu_derivative, backend="numpy", random_state=0)
    assert not result.passed and result.mistakes == ["dtype"]
    assert "float32" in str(result)


def test_changing_an_input_in_place_is_named():
    def adam_step(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
        xp = array_namespace(param)
        m *= beta1  # in place: the caller's m changes
        m += (1 - beta1) * grad
        v_new = beta2 * v + (1 - beta2) * grad**2
        step = (m / (1 - beta1**t)) / (xp.sqrt(v_new / (1 - beta2**t)) + epsilon)
        return param - learning_rate * step, m, v_new

    result = ex.check("adam_step", adam_step, backend="numpy", random_state=0)
    assert not result.passed and "mutated_input" in result.mistakes


def test_a_python_number_for_a_scalar_result_is_refused():
    from npae.penalties import contractive as C

    result = ex.check("contractive_penalty", lambda W, z, a: float(np.mean(C.one_layer_penalty_rows(W, z, a))),
                      backend="numpy", random_state=0)
    assert not result.passed and result.mistakes == ["not_an_array"]


def test_the_wrong_number_of_outputs_is_named():
    result = ex.check("dense_backward", lambda x, W, b, g: (g @ W.T, x.T @ g), random_state=0)
    assert not result.passed and result.mistakes == ["wrong_outputs"]
    assert "return 3 arrays" in str(result)


def test_a_passing_report_lists_central_differences_float32_and_edges():
    text = str(ex.check("bce_with_logits_grad", _reference("bce_with_logits_grad"), random_state=0))
    assert text.startswith("bce_with_logits_grad: passed")
    assert "central differences: grad" in text and "float32 kept" in text and "edge: huge logits" in text


# an argument ignored for the value it usually has: each fails because the second case passes another value
def _typed_in(name, **fixed):
    """The reference with some scalar arguments replaced by the values of the first case."""
    exercise, reference = REGISTRY[name], _reference(name)

    def fn(*args):
        given = dict(zip(exercise.arguments, args))
        return reference(*(fixed.get(a, given[a]) for a in exercise.arguments))

    return fn


@pytest.mark.parametrize("name, fixed", [
    ("adam_step", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("adam_step", {"learning_rate": 0.01}),
    ("kl_sparsity_grad", {"target": 0.1}),
    ("l1_activity_grad", {"weight": 0.3}),
    ("gaussian_noise", {"std": 0.3}),
    ("contractive_penalty_grad", {"weight": 0.3}),
])
def test_a_scalar_argument_typed_in_fails_as_a_fixed_value(name, fixed):
    result = ex.check(name, _typed_in(name, **fixed), random_state=0)
    assert not result.passed
    assert "fixed_size" in result.mistakes
    assert "fixed size or value" in str(result)


@pytest.mark.parametrize("name", ["contractive_penalty", "contractive_penalty_grad"])
def test_a_missing_batch_mean_is_named_with_the_batch_size_not_the_weights_rows(name):
    """The first argument is W (D rows); N is z's rows, 5 in case 1 (D = 7)."""
    exercise, reference = REGISTRY[name], _reference(name)

    def summed(*args):
        out = reference(*args)
        n = args[exercise.arguments.index("z")].shape[0]
        return out * n if name == "contractive_penalty" else (out[0], out[1] * n)

    result = ex.check(name, summed, random_state=0)
    assert not result.passed and result.mistakes == ["missing_1/N"]
    assert "N = 5 times" in str(result) and "N = 7" not in str(result)


def test_yours_or_npae_hands_out_npae_own_function_until_yours_passes_and_check_refuses_it():
    ex.reset_progress(["l1_activity_grad"])
    npae_own = ex.yours_or_npae("l1_activity_grad", lambda h, weight: None)
    h = np.array([[0.5, -0.2], [0.1, 0.3]])
    np.testing.assert_array_equal(npae_own(h, 0.3), _reference("l1_activity_grad")(h, 0.3))
    with pytest.raises(TypeError, match="npae's own function"):
        ex.check("l1_activity_grad", npae_own)
    mine = _reference("l1_activity_grad")
    assert ex.check("l1_activity_grad", mine).passed
    assert ex.yours_or_npae("l1_activity_grad", mine) is mine
    ex.reset_progress(["l1_activity_grad"])
