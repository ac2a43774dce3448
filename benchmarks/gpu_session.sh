#!/usr/bin/env bash
# One call on a lent GPU machine (issues 6, 23): the test suite with CuPy and CUDA torch (the torch-backend
# kernels' parity tests run on the CUDA device too: tests/kernels/test_torch_backend.py), then the GPU
# benchmark with npae on CuPy (no CuPy kernels exist yet: the reference path) and on its torch backend
# (the torch-backend kernels: fused Adam, addmm, threshold_backward, ...) against the CUDA twin.
#
# Prepare on the CPU machine (the GPU machine has no internet and no array-api-compat):
#   pip download --no-deps -d .wheels array-api-compat array-api-strict
#   echo .wheels/ >> .git/info/exclude
# then, through the device tool: run(command="bash benchmarks/gpu_session.sh", carry=[".wheels"]).
# Everything it reports lands in $OUT (default benchmarks/out/gpu): versions, pytest's summary,
# the benchmark tables. Budget: ~4 min of tests, ~3 min + ~1.5 min of benchmarks, inside 10 minutes.
set -uo pipefail
OUT="${OUT:-benchmarks/out/gpu}"
mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python --version
} > "$OUT/device.txt" 2>&1

pip install --quiet --no-index .wheels/*.whl && pip install --quiet --no-deps -e . || exit 1
python - >> "$OUT/device.txt" 2>&1 <<'PY'
import cupy, numpy, torch, npae
print("cupy", cupy.__version__, "cuda runtime", cupy.cuda.runtime.runtimeGetVersion(),
      "available", cupy.is_available())
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
print("numpy", numpy.__version__, "npae", npae.__version__, npae.backend.available_backends())
PY
cat "$OUT/device.txt"

timeout 300 python -m pytest -q -rfE -p no:cacheprovider > "$OUT/pytest.txt" 2>&1
echo "pytest exit $?" | tee -a "$OUT/pytest.txt"
tail -25 "$OUT/pytest.txt"

timeout 240 python benchmarks/bench_gpu.py --out "$OUT/gpu.md"
echo "bench_gpu exit $?"

timeout 100 python -m pytest -q -rfE -p no:cacheprovider tests/kernels/test_torch_backend.py > "$OUT/torch_kernels.txt" 2>&1
echo "torch-backend kernel tests exit $?" | tee -a "$OUT/torch_kernels.txt"
timeout 100 python benchmarks/bench_gpu.py --npae-backend torch --quick --out "$OUT/gpu_torch_backend.md"
echo "bench_gpu (npae on its torch backend) exit $?"
