#!/usr/bin/env bash
# The GPU check, in one go: the CUDA tests, then `benchmarks/inference.py --device cuda` at
# batches of 32 (the CPU benchmark's setting) and 256, bertkit fp32/bf16 against transformers
# (SDPA) fp32/bf16 on the same texts and weights. BATCHES="32" runs the first only.
#
#   benchmarks/gpu_check.sh [MODEL_DIR] [TEXTS_FILE] [OUT_DIR]
#
# MODEL_DIR: the MiniLM-sized model (default: the bundled one); a `model.fp16.safetensors`
# there (weights halved to travel light) is widened back to fp32 first, into a copy.
# TEXTS_FILE: one text per line or a .json list (default: the built-in real-text mix, which
# reads text from packages this repository's `make setup` installs).
# Needs python3 with torch (CUDA), transformers, numpy, safetensors, matplotlib, tqdm, pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-}
TEXTS=${2:-}
OUT_DIR=${3:-benchmarks/results/gpu}
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR"

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
$PYTHON -c "import torch, transformers; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'| transformers', transformers.__version__, '|', torch.cuda.get_device_name())"

if [ -n "$MODEL" ] && [ -f "$MODEL/model.fp16.safetensors" ]; then
    WIDE=$(mktemp -d)/minilm
    mkdir -p "$WIDE" && cp "$MODEL"/*.json "$MODEL"/vocab.txt "$WIDE"/
    $PYTHON - "$MODEL/model.fp16.safetensors" "$WIDE/model.safetensors" <<'EOF'
import sys
from safetensors.torch import load_file, save_file
weights = load_file(sys.argv[1])
save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}, sys.argv[2])
EOF
    MODEL=$WIDE
fi
MODEL_ARGS=(); [ -n "$MODEL" ] && MODEL_ARGS=(--model "$MODEL")
TEXT_ARGS=(--texts 2048); [ -n "$TEXTS" ] && TEXT_ARGS+=(--texts-file "$TEXTS")

echo "== CUDA tests"
$PYTHON -m pytest -q -p no:cacheprovider tests/inference/test_cuda.py tests/inference/test_engine.py 2>&1 | tail -15

for BATCH in ${BATCHES:-32 256}; do
    echo "== benchmark, batches of $BATCH"
    $PYTHON benchmarks/inference.py --device cuda "${MODEL_ARGS[@]}" "${TEXT_ARGS[@]}" --batch-size "$BATCH" \
        --repeats 3 --peak-tokens 16384 --threads 4 --out "$OUT_DIR/batch$BATCH" 2>&1 | grep -v -E "Loading weights|it/s\]"
done
