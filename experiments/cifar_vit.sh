#!/usr/bin/env bash
# CIFAR-10, the ViT recipe (Adam 7e-4, batch 128, crop + flip; D 192, depth 6, 6 heads, patch 4):
# the softmax-attention baseline, FFTNet (global), FFTNet windowed, wavelet, hybrid and the
# feedback ViT, seeds 0 1 2, all as parallel processes on the one GPU. The source trains 100
# epochs; EPOCHS (default 20) sets the length. Data: DATA (default /tmp/cifar10). Repeat until it
# prints "all finished"; then python experiments/summarize.py results
# Settings: SEEDS, EPOCHS, TIME_LIMIT (seconds per invocation), RESULTS, DATA, DEVICE, EXTRA, MODELS.
source "$(dirname "$0")/common.sh"
DATA=${DATA:-/tmp/cifar10}
MODELS=${MODELS:-vit fftnet-vit fftnet-vit-windowed wavelet-vit hybrid-vit feedback-vit}
for seed in $SEEDS; do
    for model in $MODELS; do
        launch "cifar10-$model-s$seed" cifar10 --model "$model" --seed "$seed" --data-dir "$DATA"
    done
done
finish
