#!/usr/bin/env bash
# Train the camera-relative household model for a fixed time on a GPU machine, evaluate it on the
# held-out test objects there, and keep the EMA and the evaluation in $OUT.
#
# Made for a bare GPU machine you reach for minutes and without network: the training set travels as
# a pack (`make gpu-pack`: views as WebP grids, ~8 MB), the run starts from the shipped checkpoint, its
# cosine anneal is fitted to the time it has (`--time-budget`), and the EMA is kept as fp16 (9 MB).
# Continue a later run by pointing INIT at the last EMA. The evaluation (the household bar's protocol:
# test split, K = 4 samples per target, the nodes' DPM-Solver++(2M) at 8 steps) runs on the GPU; it reads
# a second, lossless pack of the test split with its masks, and a failure there keeps the EMA;
# benchmarks/household_bar.py prints the verdict.
# It needs torch (CUDA), numpy, OpenCV, PyYAML, tqdm, scikit-image and matplotlib. What it writes
# (at most 8 files): ema_fp16.pt, log.txt and eval/ (evaluation.json, .md, samples.jsonl, three pictures).
#
#   make gpu-pack                                   # on the machine with the rendered data
#   bash scripts/gpu_train.sh                       # on the GPU machine, with gpu/ copied beside the repository
#   OUT=out/gpu_train BUDGET=60 bash scripts/gpu_train.sh    # a one-minute trial
#
# Every setting below can be overridden from the environment (the test runs it with PRESET=tiny).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_train}                       # what to keep: the EMA, the log and the evaluation
PACK=${PACK:-gpu/household_train.zip}
TEST_PACK=${TEST_PACK:-gpu/household_test.zip}
INIT=${INIT-models/viewfusion_household64.pt}
PRESET=${PRESET:-cpu-64}
BUDGET=${BUDGET:-360}                           # seconds of training; start-up, saving and evaluation come on top
BATCH=${BATCH:-128}
LR=${LR:-2e-4}
WARMUP=${WARMUP:-200}
EMA=${EMA:-0.999}
SEED=${SEED:-100}
EXTRA=${EXTRA---channels-last}                  # more train arguments; NHWC convolutions suit the tensor cores
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15

main() {
    local trained
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
    python3 -m nvs_fusion_ros.cli unpack-dataset "$PACK" --out "$work/data"
    python3 -m nvs_fusion_ros.cli train --data "$work/data" --out "$work/run" --preset "$PRESET" --angle-reference relative \
        ${INIT:+--init-from "$INIT"} --time-budget "$BUDGET" --steps 1000000 --batch-size "$BATCH" --lr "$LR" \
        --warmup-start-lr 5e-5 --warmup-steps "$WARMUP" --lr-decay cosine --min-lr 1e-5 --ema-decay "$EMA" \
        --checkpoint-every 500 --sample-every 0 --seed "$SEED" --workers 0 $EXTRA || trained=$?
    [ -f "$work/run/ema.pt" ] || return "${trained:-1}"  # a failed run still brings back its last checkpoint
    python3 - "$work/run/ema.pt" "$OUT/ema_fp16.pt" <<'EOF'
import sys

from nvs_fusion_ros.model.checkpoint import load_checkpoint, save_checkpoint

run = load_checkpoint(sys.argv[1])
save_checkpoint(sys.argv[2], run.model, run.schedule, run.metadata, half=True)
print(f"wrote {sys.argv[2]}: {run.metadata['training_steps']} steps of batch {run.metadata['batch_size']}")
EOF
    if [ -f "$TEST_PACK" ]; then
        python3 -m nvs_fusion_ros.cli unpack-dataset "$TEST_PACK" --out "$work/test"
        python3 -m nvs_fusion_ros.cli evaluate --model "$OUT/ema_fp16.pt" --data "$work/test" --split test --repeats 1 \
            --sampler dpmpp2m --steps 8 --num-hypotheses 4 --examples 6 --engine torch --max-batch 256 --out "$OUT/eval" || echo "evaluation failed; the EMA above is kept"
        [ ! -f "$OUT/eval/evaluation.json" ] || python3 benchmarks/household_bar.py "$OUT/eval/evaluation.json" || true
    fi
    return "${trained:-0}"
}

mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
main 2>&1 | tee "$OUT/log.txt"
