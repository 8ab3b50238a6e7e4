#!/usr/bin/env bash
# All-stages feedback on CIFAR-10 (FeedbackCNN, T = 2, learnable alpha, the CNN recipe), trained
# in the ways that might make it work where the plain form does not (80.42% against the CNN's
# 81.00% after 20 epochs; its intermediate steps predict at 50.6%):
#   step-loss                      the loss averaged over y_0..y_T (every step must predict)
#   step-loss-init0.9              and alpha starting at 0.9 (each refinement near the identity)
#   step-loss-init0.9-ctx          and the fed-back logits detached (--detach context)
#   step-loss-init0.9-trunc        and every step cut from the previous one (--detach steps)
#   init0.9                        alpha at 0.9 alone, the loss on y_T only
# Reduced epochs: EPOCHS defaults to 6 (see ablation.sh); the recipe's learning rate is constant,
# so these compare at that epoch with cifar_cnn.sh's head-only and all-stages runs, and continue
# to the recipe's 20 epochs with EPOCHS=20 (the runs resume from their checkpoints).
# Data: DATA (default /tmp/cifar10). Settings: SEEDS, EPOCHS, TIME_LIMIT, RESULTS, DATA, DEVICE, EXTRA.
EPOCHS=${EPOCHS:-6}
SEEDS=${SEEDS:-0}
source "$(dirname "$0")/common.sh"
DATA=${DATA:-/tmp/cifar10}
all_stages() {
    local name=$1 seed=$2; shift 2
    launch "cifar10-all-stages-$name-s$seed" cifar10 --model feedback-cnn --mode all-stages --steps-train 2 \
        --steps-eval 2 --seed "$seed" --data-dir "$DATA" "$@"
}
for seed in $SEEDS; do
    all_stages step-loss "$seed" --step-loss
    all_stages step-loss-init0.9 "$seed" --step-loss --alpha-init 0.9
    all_stages step-loss-init0.9-ctx "$seed" --step-loss --alpha-init 0.9 --detach context
    all_stages step-loss-init0.9-trunc "$seed" --step-loss --alpha-init 0.9 --detach steps
    all_stages init0.9 "$seed" --alpha-init 0.9
done
finish
