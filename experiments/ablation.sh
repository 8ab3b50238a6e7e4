#!/usr/bin/env bash
# The CFL ablation on CIFAR-10: head-only FeedbackCNN (the CNN recipe: Adam 1e-3, batch 128, crop +
# flip) with T in {1, 2, 3, 4} refinement steps (the same T in training and evaluation) and alpha
# in {0 fixed, 0.5 fixed, learnable, gated}: seed 0 for every cell, seeds 0 1 2 for T = 2 with the
# learnable alpha. Sixteen processes or more at once on the one GPU.
#
# Reduced epochs: EPOCHS defaults to 6, not the recipe's 20, so that the grid fits one GPU call
# beside the other runs of experiments/gpu_claims.sh. The recipe's learning rate is constant, so
# the cells are compared at the same epoch without a schedule cut short; the 20-epoch runs of
# cifar_cnn.sh (CNN, head-only and all-stages FeedbackCNN) give the references at that epoch.
# SKIP_T2_LEARNABLE=1 leaves out the cell T = 2, learnable alpha: it is the head-only FeedbackCNN
# of cifar_cnn.sh (minifb is deterministic, so the same runs again), which summarize.py then takes
# from those runs' metrics. Data: the official python layout under DATA (default /tmp/cifar10).
# Settings: SEEDS (of the T = 2 learnable cell), EPOCHS, TIME_LIMIT, RESULTS, DATA, DEVICE, EXTRA.
EPOCHS=${EPOCHS:-6}
source "$(dirname "$0")/common.sh"
DATA=${DATA:-/tmp/cifar10}
for steps in 1 2 3 4; do
    for alpha in 0 0.5 learnable gated; do
        seeds=0
        if [ "$steps" = 2 ] && [ "$alpha" = learnable ]; then
            [ "${SKIP_T2_LEARNABLE:-0}" = 1 ] && continue
            seeds=$SEEDS
        fi
        for seed in $seeds; do
            launch "cifar10-ablation-T$steps-alpha-$alpha-s$seed" cifar10 --model feedback-cnn --mode head-only \
                --steps-train "$steps" --steps-eval "$steps" --alpha "$alpha" --seed "$seed" --data-dir "$DATA"
        done
    done
done
finish
