#!/usr/bin/env bash
# Speech Commands (12 classes, the speaker-disjoint split of the real v0.02 test set: 3,941 train
# / 949 test clips; 40 log-mel bands computed on the GPU) with the speech recipe of minifb train:
# Adam 2e-3 with a 3-epoch linear warm-up and cosine decay, batch 128, time shift + background
# noise + SpecAugment time and frequency masks, EPOCHS (default 60). MODELS (default: the
# paper's 3-conv trunk audio-cnn, the residual audio-resnet and its head-only feedback variant),
# seeds SEEDS (default 0 1 2), all at once. Data: the three archives extracted into DATA (default
# /tmp/speech_commands). Repeat until it prints "all finished"; then python experiments/summarize.py
# Settings: MODELS, SEEDS, EPOCHS, TIME_LIMIT (seconds per invocation), RESULTS, DATA, DEVICE, EXTRA,
# TAG (the middle of the run names, default cosine-specaug; name a variant made with EXTRA).
# The earlier 30-epoch runs (results/speech-audio-cnn-s* and the feedback ones) had a constant
# learning rate of 1e-3 and no masks: --schedule constant --lr 1e-3 --spec-augment none.
EPOCHS=${EPOCHS:-60}
source "$(dirname "$0")/common.sh"
DATA=${DATA:-/tmp/speech_commands}
MODELS=${MODELS:-audio-cnn audio-resnet feedback-audio-resnet}
TAG=${TAG:-cosine-specaug}
for seed in $SEEDS; do
    for model in $MODELS; do
        feedback=()
        [[ $model == feedback-* ]] && feedback=(--mode head-only --steps-train 2 --steps-eval 2)
        launch "speech-$model-$TAG-s$seed" speech-commands --model "$model" "${feedback[@]}" \
            --seed "$seed" --data-dir "$DATA"
    done
done
finish
