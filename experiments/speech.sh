#!/usr/bin/env bash
# Speech Commands (12 classes, the speaker-disjoint split of the real v0.02 test set: 3,941 train
# / 949 test clips; 40 log-mel bands computed on the GPU; shift + noise augmentation): the audio
# CNN and the feedback audio CNN head-only and all-stages (T = 2), seeds 0 1 2, nine processes at
# once. Data: the three archives extracted into DATA (default /tmp/speech_commands). Repeat until
# it prints "all finished"; then python experiments/summarize.py results
# Settings: SEEDS, EPOCHS (default 30), TIME_LIMIT (seconds per invocation), RESULTS, DATA, DEVICE, EXTRA.
EPOCHS=${EPOCHS:-30}
source "$(dirname "$0")/common.sh"
DATA=${DATA:-/tmp/speech_commands}
for seed in $SEEDS; do
    launch "speech-audio-cnn-s$seed" speech-commands --model audio-cnn --seed "$seed" --data-dir "$DATA"
    launch "speech-feedback-audio-cnn-head-only-s$seed" speech-commands --model feedback-audio-cnn \
        --mode head-only --steps-train 2 --steps-eval 2 --seed "$seed" --data-dir "$DATA"
    launch "speech-feedback-audio-cnn-all-stages-s$seed" speech-commands --model feedback-audio-cnn \
        --mode all-stages --steps-train 2 --steps-eval 2 --seed "$seed" --data-dir "$DATA"
done
finish
