#!/usr/bin/env bash
# CIFAR-10, the CNN recipe (Adam 1e-3, batch 128, crop + flip, 20 epochs): CNN, FeedbackCNN
# head-only and FeedbackCNN all-stages (T = 2, learnable alpha), seeds 0 1 2: nine processes at
# once on the one GPU (a small CNN leaves it mostly idle). Data: the official python layout under
# DATA (default /tmp/cifar10). Repeat until it prints "all finished"; then
#   python experiments/summarize.py results
# Settings: SEEDS, EPOCHS, TIME_LIMIT (seconds per invocation), RESULTS, DATA, DEVICE, EXTRA.
source "$(dirname "$0")/common.sh"
DATA=${DATA:-/tmp/cifar10}
for seed in $SEEDS; do
    launch "cifar10-cnn-s$seed" cifar10 --model cnn --seed "$seed" --data-dir "$DATA"
    launch "cifar10-feedback-cnn-head-only-s$seed" cifar10 --model feedback-cnn --mode head-only \
        --steps-train 2 --steps-eval 2 --seed "$seed" --data-dir "$DATA"
    launch "cifar10-feedback-cnn-all-stages-s$seed" cifar10 --model feedback-cnn --mode all-stages \
        --steps-train 2 --steps-eval 2 --seed "$seed" --data-dir "$DATA"
done
finish
