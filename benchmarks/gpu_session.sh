#!/usr/bin/env bash
# One call on a lent GPU machine (issue 6): the test suite with CuPy, then the GPU benchmark.
#
# Prepare on the CPU machine (the GPU machine has no internet and no array-api-compat):
#   pip download --no-deps -d .wheels array-api-compat array-api-strict
#   echo .wheels/ >> .git/info/exclude
# then, through the device tool: run(command="bash benchmarks/gpu_session.sh", carry=[".wheels"]).
# Everything it reports lands in $OUT (default benchmarks/out/gpu): versions, pytest's summary,
# the benchmark table. Budget: ~4 min of tests and ~3 min of benchmark, well inside 10 minutes.
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
