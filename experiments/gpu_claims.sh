#!/usr/bin/env bash
# Every run behind the claims of the README's feedback and Speech Commands sections, at once on one
# GPU, ending within TOTAL seconds (default 470, under 8 minutes):
#   speech.sh      audio-resnet and feedback-audio-resnet (head-only), seeds 0 1 2, the paper's
#                  3-conv trunk audio-cnn, seed 0, and audio-resnet without the SpecAugment masks,
#                  seed 0: the speech recipe, SPEECH_EPOCHS (default 60, the recipe's)
#   ablation.sh    head-only FeedbackCNN, T x alpha, CIFAR_EPOCHS (default 6; the T = 2 learnable
#                  cell comes from cifar_cnn.sh's runs, already in results/)
#   all_stages.sh  five trainings of all-stages FeedbackCNN, CIFAR_EPOCHS
# then the per-layer analysis (layer_analysis.py, 4 steps) of the all-stages runs and the tables
# and figures (summarize.py). Every run stops before an epoch that would end after TIME_LIMIT
# seconds (default TOTAL - 75: the start of 28 processes and the analysis after them) and resumes
# from its checkpoint when the script is run again. When OUT is set, the run folders without
# their checkpoints, the figures and the logs are copied under OUT/results.
# Data: CIFAR (default /tmp/cifar10, the official python layout), SPEECH (default
# /tmp/speech_commands, the three Speech Commands archives extracted). EXTRA: more train options.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
export PYTHONPATH=. PYTHONUNBUFFERED=1
CIFAR=${CIFAR:-/tmp/cifar10}
SPEECH=${SPEECH:-/tmp/speech_commands}
TOTAL=${TOTAL:-470}
export TIME_LIMIT=${TIME_LIMIT:-$((TOTAL - 75))}
export RESULTS=${RESULTS:-results}
SPEECH_EPOCHS=${SPEECH_EPOCHS:-60}
CIFAR_EPOCHS=${CIFAR_EPOCHS:-6}
started=$(date +%s)
logs="$RESULTS/logs"
mkdir -p "$logs"
for need in "$CIFAR/cifar-10-batches-py/data_batch_5" "$SPEECH/speech_commands_test_set_v0.02/yes"; do
    [ -e "$need" ] || { echo "gpu_claims: $need is missing (see the data notes at the top)"; exit 1; }
done
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null

DATA=$SPEECH EPOCHS=$SPEECH_EPOCHS SEEDS="0 1 2" MODELS="audio-resnet feedback-audio-resnet" \
    bash experiments/speech.sh >"$logs/speech.txt" 2>&1 &
DATA=$SPEECH EPOCHS=$SPEECH_EPOCHS SEEDS=0 MODELS=audio-cnn bash experiments/speech.sh >"$logs/speech_cnn.txt" 2>&1 &
# The masks' share: audio-resnet without them, seed 0
DATA=$SPEECH EPOCHS=$SPEECH_EPOCHS SEEDS=0 MODELS=audio-resnet TAG=cosine EXTRA="${EXTRA:-} --spec-augment none" \
    bash experiments/speech.sh >"$logs/speech_no_masks.txt" 2>&1 &
DATA=$CIFAR EPOCHS=$CIFAR_EPOCHS SKIP_T2_LEARNABLE=1 bash experiments/ablation.sh >"$logs/ablation.txt" 2>&1 &
DATA=$CIFAR EPOCHS=$CIFAR_EPOCHS bash experiments/all_stages.sh >"$logs/all_stages.txt" 2>&1 &
wait
echo "training done after $(( $(date +%s) - started )) s"
cat "$logs"/speech*.txt "$logs"/ablation.txt "$logs"/all_stages.txt | grep -E "finished|MiB"

runs=()
for run in "$RESULTS"/cifar10-all-stages-*; do
    [ -f "$run/checkpoint.npz" ] && runs+=("$run")
done
left=$(( TOTAL - ($(date +%s) - started) - 10 ))
if [ ${#runs[@]} -gt 0 ] && [ $left -gt 15 ]; then
    timeout $left python experiments/layer_analysis.py "${runs[@]}" \
        --data-dir "$CIFAR" --device cuda --steps 4 --figure "$RESULTS/figures/layer_analysis.png" \
        >"$logs/layer_analysis.txt" 2>&1 || echo "layer_analysis did not finish: see $logs/layer_analysis.txt"
fi
python experiments/summarize.py "$RESULTS" --out "$RESULTS/summary.md" --figures "$RESULTS/figures" \
    >"$logs/summarize.txt" 2>&1 || echo "summarize failed: see $logs/summarize.txt"
if [ -n "${OUT:-}" ]; then
    find "$RESULTS" -type f ! -name checkpoint.npz -exec cp --parents {} "$OUT" \;
fi
echo "gpu_claims: done after $(( $(date +%s) - started )) s"
