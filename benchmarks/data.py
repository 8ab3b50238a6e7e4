"""Time the data path: loading all of CIFAR-10 from the official pickles, and log-mel features
of the real Speech Commands test-set clips, on the CPU or the GPU.

    python benchmarks/data.py --cifar DIR --speech DIR [--device cuda] [--json PATH]

DIR of CIFAR-10 holds ``cifar-10-batches-py``; DIR of Speech Commands holds the extracted
test-set archive. Times are wall-clock seconds (the GPU is synchronized before each reading).
"""
from __future__ import annotations

import argparse
import json
import time

from minifb import backend
from minifb.data import load_cifar10, load_speech_commands_test_set, log_mel_spectrogram, pcm16_to_float
from minifb.run_folder import environment
from timing import write_json


def timed(fn):
    backend.synchronize()
    start = time.perf_counter()
    result = fn()
    backend.synchronize()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", help="folder holding cifar-10-batches-py")
    parser.add_argument("--speech", help="folder holding the extracted Speech Commands test set")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1000, help="clips per log-mel call")
    parser.add_argument("--json")
    args = parser.parse_args()
    xp = backend.xp_for(args.device)
    report = {"device": args.device, **environment(args.device)}
    if args.cifar:
        def load_all():
            train, test = load_cifar10(args.cifar, train=True), load_cifar10(args.cifar, train=False)
            return [xp.asarray(a) for a in (*train, *test)]
        arrays, seconds = timed(load_all)
        report["cifar10_images"] = int(len(arrays[0]) + len(arrays[2]))
        report["cifar10_load_to_device_s"] = round(seconds, 3)
    if args.speech:
        (waveforms, labels, *_), read_s = timed(lambda: load_speech_commands_test_set(args.speech))
        clips = xp.asarray(waveforms)
        log_mel_spectrogram(pcm16_to_float(clips[:8]))  # warm-up: FFT plans, kernels

        def features():
            return [log_mel_spectrogram(pcm16_to_float(clips[i:i + args.batch])) for i in range(0, len(clips), args.batch)]
        chunks, feature_s = timed(features)
        report["speech_clips"] = int(len(clips))
        report["speech_read_wav_s"] = round(read_s, 3)
        report["speech_log_mel_s"] = round(feature_s, 3)
        report["speech_log_mel_shape"] = [int(len(clips)), *map(int, chunks[0].shape[1:])]
    print(json.dumps(report, indent=1))
    if args.json:
        write_json(args.json, report)


if __name__ == "__main__":
    main()
