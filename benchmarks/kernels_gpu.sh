#!/usr/bin/env bash
# On a GPU machine: the tests of minifb's CUDA kernels (attention, implicit-GEMM convolution, TF32),
# then the benchmarks that time them against PyTorch. About 6-8 minutes on an H200.
#   bash benchmarks/kernels_gpu.sh [RESULTS_FOLDER]        (default benchmarks/results)
# Each part runs even when an earlier one fails; the exit status is that of the tests.
set -u
cd "$(dirname "$0")/.."
results="${1:-benchmarks/results}"
mkdir -p "$results"
export PYTHONPATH=. PYTHONUNBUFFERED=1
python -m pytest -q -rs tests/test_attention_kernel.py tests/test_conv_kernel.py tests/test_tf32.py \
    2>&1 | tee "$results/kernel_tests.txt"
status=${PIPESTATUS[0]}
python benchmarks/mixers.py --json "$results/mixers.json" --png "$results/mixers.png" 2>&1 | tee "$results/mixers.txt"
python benchmarks/layers.py --json "$results/layers.json" 2>&1 | tee "$results/layers.txt"
python benchmarks/layers.py --implicit-gemm --json "$results/layers_implicit_gemm.json" 2>&1 \
    | tee "$results/layers_implicit_gemm.txt"
exit "$status"
