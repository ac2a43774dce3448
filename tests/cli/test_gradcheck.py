"""``npae gradcheck``: every parameter array's relative error, and exit status 1 when one fails."""

import pytest


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("model", ["ae", "sparse", "denoising", "contractive", "vae"])
def test_gradcheck_prints_every_parameter_and_passes(run, model, backend):
    code, out, err = run("gradcheck", "--model", model, "--backend", backend)
    assert code == 0, out + err
    expected = {"ae": 8, "sparse": 8, "denoising": 8, "contractive": 8, "vae": 10}[model]
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("encoder.", "decoder."))]
    assert len(rows) == expected and all(row[-1] == "ok" and float(row[-2]) < 1e-6 for row in rows)
    assert ("encoder.logvar.W" in out) == (model == "vae")
    assert "passed: worst" in out


def test_gradcheck_exit_status_1_when_a_check_fails(run):
    code, out, _ = run("gradcheck", "--model", "ae", "--tol", "1e-30")
    assert code == 1
    assert "FAIL" in out and "FAILED" in out


def test_gradcheck_bad_option_is_one_line(run, assert_one_line_error):
    code, _, err = run("gradcheck", "--model", "ae", "--n", "0")
    assert_one_line_error(code, err, "--n must be a positive integer")
