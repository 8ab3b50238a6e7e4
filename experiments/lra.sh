#!/usr/bin/env bash
# Long Range Arena, a reduced protocol that is the same for every model: the Transformer, FNet,
# FFTNet and FFTNet windowed on LRA Image, ListOps and minifb's generated Pathfinder-32, one seed,
# all as parallel processes on the one GPU, ending within WALL seconds (default 420).
#
# Reduced against LRA (the numbers in docs/lra.md): every model at one small size,
# D 64, depth 2, 2 heads, MLP 128 (the Transformer's Q/K/V 64 wide: heads of 32), instead of each
# task's published size; a few epochs on a subset of the training set (Adam 1e-3, batch 32 or 64,
# constant rate) instead of LRA's 5,000 steps (ListOps) or 200 epochs (Image, Pathfinder);
# validation and test sets as below. Pooling, positions, vocabularies and sequence lengths are
# LRA's (ListOps 2,000 tokens, CLS; Image 1,024, CLS; Pathfinder 1,024, mean, sinusoids).
#
# Data: DATA holds cifar-10-batches-py (default /tmp/cifar10); the generated ListOps (LRA's
# 96,000 / 2,000 / 2,000, in the official TSV layout) and Pathfinder (80,000 / 10,000 / 10,000) are
# made under LRA_DATA (default /tmp/lra) by this script, while the Image runs start.
# Afterwards: python experiments/summarize.py results --lra --out results/lra.md
# Settings: WALL, RESULTS, DATA, LRA_DATA, MODELS, TASKS, SIZE, EPOCHS_*, *_OPTS, EXTRA, DEVICE.
source "$(dirname "$0")/common.sh"
WALL=${WALL:-420}                  # seconds for the whole script
STARTUP=${STARTUP:-75}             # kept free for process start, data loading, the last epoch's evaluation
GRACE=${GRACE:-30}                 # then runs still going (a first epoch longer than the limit) are stopped
DATA=${DATA:-/tmp/cifar10}
LRA_DATA=${LRA_DATA:-/tmp/lra}
SEED=${SEED:-0}
MODELS=${MODELS:-lra-transformer lra-fnet lra-fftnet lra-fftnet-windowed}
TASKS=${TASKS:-image listops pathfinder}
SIZE=${SIZE:-'"dim": 64, "depth": 2, "heads": 2, "mlp_dim": 128'}
QKV=${QKV:-64}                     # the Transformer's Q/K/V width
EPOCHS_IMAGE=${EPOCHS_IMAGE:-4}
EPOCHS_LISTOPS=${EPOCHS_LISTOPS:-4}
EPOCHS_PATHFINDER=${EPOCHS_PATHFINDER:-4}
IMAGE_OPTS=${IMAGE_OPTS:---batch-size 64 --lr 1e-3 --limit-train 20000}
LISTOPS_OPTS=${LISTOPS_OPTS:---batch-size 32 --lr 1e-3 --limit-train 12000}
PATHFINDER_OPTS=${PATHFINDER_OPTS:---batch-size 64 --lr 1e-3 --limit-train 20000 --limit-test 2000}
# The memory-efficient attention kernel (heads of 32 or 64): N x N weights never stored.
export MINIFB_ATTENTION_KERNEL=${MINIFB_ATTENTION_KERNEL:-1}
mkdir -p "$RESULTS" "$LRA_DATA"

settings() {  # the model's --model-config
    if [ "$1" = lra-transformer ]; then echo "{$SIZE, \"qkv_dim\": $QKV}"; else echo "{$SIZE}"; fi
}

start_task() {  # start every model on one task, with the time left
    local task=$1 epochs=$2 opts=$3 data=$4
    TIME_LIMIT=$((WALL - SECONDS - STARTUP))
    if [ "$TIME_LIMIT" -lt 30 ]; then echo "no time left for lra-$task"; return; fi
    for model in $MODELS; do
        # shellcheck disable=SC2086  # opts is a list of options
        EPOCHS=$epochs launch "lra-$task-$model-s$SEED" "lra-$task" --model "$model" --seed "$SEED" \
            --data-dir "$data" --model-config "$(settings "$model")" $opts
    done
    echo "$(date +%T) started lra-$task (time limit ${TIME_LIMIT} s)"
}

generated=()
for task in $TASKS; do
    if [ "$task" != image ]; then
        python -m minifb.data.lra "$LRA_DATA" "$task" --seed 0 >"$RESULTS/lra-data-$task.log" 2>&1 &
        generated+=("$task:$!")
    fi
done
case " $TASKS " in *" image "*) start_task image "$EPOCHS_IMAGE" "$IMAGE_OPTS" "$DATA" ;; esac
for entry in "${generated[@]}"; do
    task=${entry%%:*}
    if wait "${entry##*:}"; then
        echo "$(date +%T) $(tail -n 1 "$RESULTS/lra-data-$task.log")"
        epochs_var=EPOCHS_${task^^} opts_var=${task^^}_OPTS
        start_task "$task" "${!epochs_var}" "${!opts_var}" "$LRA_DATA"
    else
        echo "generating $task failed: $(tail -n 3 "$RESULTS/lra-data-$task.log")"
    fi
done
# A run stops itself before an epoch that would end after its limit, but its first epoch always
# runs: whatever still runs GRACE seconds after WALL is stopped (its finished epochs are on disk).
runs=$(jobs -pr)
if [ -n "$runs" ]; then
    # shellcheck disable=SC2086  # a list of process ids
    (sleep $((WALL + GRACE - SECONDS > 0 ? WALL + GRACE - SECONDS : 0)); kill $runs 2>/dev/null) &
    watchdog=$!
    # shellcheck disable=SC2086
    wait $runs
    kill "$watchdog" 2>/dev/null
fi
finish
