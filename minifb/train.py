"""``python -m minifb train TASK --model NAME ...``: train a model on CIFAR-10 or Speech Commands.

A run folder (``--out``) receives:

- ``config.json``: the exact command line, every setting, library versions and the device name;
- ``metrics.jsonl``: one JSON object per epoch (losses, accuracies, seconds, throughput, learning
  rate, and the feedback diagnostics of models that have them);
- ``checkpoint.npz``: model, optimizer and schedule after the last finished epoch, written
  atomically; ``--resume`` continues from it and reaches the same result as a run that was never
  interrupted, because everything random in an epoch (data order, augmentation, dropout) is drawn
  from generators seeded by (seed, epoch);
- ``final.json``: the test evaluation of the last epoch.

The loop is lean on the GPU: the whole uint8 dataset sits on the device and is augmented there,
and loss and accuracy are summed on the device and read once per epoch (and every
``PROGRESS_EVERY`` steps for the progress bar).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import platform
import shlex
import sys
import time
from typing import Callable

import numpy as np
from tqdm import tqdm

from . import backend
from .atomic_file import atomic_write
from .autograd import Tensor, cross_entropy, no_grad

TASKS = ("cifar10", "cifar10-sample", "speech-commands")  # cifar10-sample: the shipped 2,000/1,000 images
FEEDBACK_SETTINGS = ("steps_train", "steps_eval", "mode", "alpha", "step_loss")
PROGRESS_EVERY = 50  # steps between the progress bar's loss readings (each one waits for the GPU)
EVAL_BATCH = 500


# ---- recipes ------------------------------------------------------------------------------------

def recipe(task: str, model_name: str) -> dict:
    """Default optimiser settings and length of a run (docs/design.md, "CIFAR-10 networks" and FFTNet).

    CIFAR CNN/FeedbackCNN: Adam 1e-3, batch 128, 20 epochs. The ViT family: Adam 7e-4, batch 128;
    the source trains 100 epochs, 20 here by default so that a run fits the GPU budget (pass
    --epochs 100 for the full schedule). Speech Commands: Adam 1e-3, batch 128, 30 epochs.
    """
    if task == "speech-commands":
        return {"lr": 1e-3, "batch_size": 128, "epochs": 30}
    if "vit" in model_name:
        return {"lr": 7e-4, "batch_size": 128, "epochs": 20}
    return {"lr": 1e-3, "batch_size": 128, "epochs": 20}


# ---- command line -------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("task", choices=TASKS, help="dataset")
    parser.add_argument("--model", required=True, help="model name (see minifb.models.available())")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch (default: the recipe's)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the recipe's)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW decoupled weight decay (default 0: Adam)")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant",
                        help="learning rate: constant (the recipes) or linear warm-up then cosine decay to 0")
    parser.add_argument("--warmup-epochs", type=int, default=0, help="warm-up of the cosine schedule, in epochs")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data", help="where the dataset is (or is downloaded to)")
    parser.add_argument("--download", action="store_true", help="download the official archive when missing")
    parser.add_argument("--out", default=None, help="run folder (default: runs/TASK-MODEL-sSEED)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="stop after N epochs of this invocation, as if interrupted (continue with --resume)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop before an epoch that would end after SECONDS (continue with --resume)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N", help="use N training examples")
    parser.add_argument("--limit-test", type=int, default=None, metavar="N", help="use N test examples")
    parser.add_argument("--tf32", action="store_true", help="TF32 tensor cores for float32 matmuls (cuda only)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    feedback = parser.add_argument_group("feedback models (feedback-cnn, feedback-vit, feedback-audio-cnn)")
    feedback.add_argument("--steps-train", type=int, default=None, help="refinement steps T while training")
    feedback.add_argument("--steps-eval", type=int, default=None, help="refinement steps T at evaluation")
    feedback.add_argument("--mode", choices=("head-only", "all-stages"), default=None)
    feedback.add_argument("--alpha", default=None, help="'learnable', 'gated' or a number in [0, 1]")
    feedback.add_argument("--step-loss", action="store_true", default=None,
                          help="average the loss over all refinement steps")


def model_config(args) -> dict:
    """The model settings given on the command line (the rest are the model's defaults)."""
    config = {}
    for name in FEEDBACK_SETTINGS:
        value = getattr(args, name)
        if value is not None:
            config[name] = value
    if isinstance(config.get("alpha"), str) and config["alpha"] not in ("learnable", "gated"):
        try:
            config["alpha"] = float(config["alpha"])
        except ValueError:
            raise ValueError(f"train: --alpha must be 'learnable', 'gated' or a number, got {args.alpha!r}") from None
    if config and not args.model.startswith("feedback"):
        flags = ", ".join("--" + k.replace("_", "-") for k in config)
        raise ValueError(f"train: {flags} only apply to feedback models, not to {args.model!r}")
    return config


def run_config(args) -> dict:
    """Every setting that determines the run's results (compared on --resume)."""
    defaults = recipe(args.task, args.model)
    return {
        "task": args.task,
        "model": args.model,
        "model_config": model_config(args),
        **{key: defaults[key] if getattr(args, key) is None else getattr(args, key)
           for key in ("epochs", "batch_size", "lr")},
        "weight_decay": args.weight_decay,
        "schedule": args.schedule,
        "warmup_epochs": args.warmup_epochs,
        "label_smoothing": args.label_smoothing,
        "seed": args.seed,
        "limit_train": args.limit_train,
        "limit_test": args.limit_test,
        "tf32": args.tf32,
    }


def check_arguments(args, config: dict) -> None:
    for name in ("epochs", "batch_size"):
        if config[name] < 1:
            raise ValueError(f"train: --{name.replace('_', '-')} must be at least 1, got {config[name]}")
    for name in ("limit_train", "limit_test", "stop_after", "time_limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"train: --{name.replace('_', '-')} must be at least 1, got {value}")
    if config["lr"] <= 0:
        raise ValueError(f"train: --lr must be positive, got {config['lr']}")
    if not 0 <= config["warmup_epochs"] < config["epochs"]:
        raise ValueError(f"train: --warmup-epochs must be in [0, --epochs), got {config['warmup_epochs']}")
    if args.tf32 and args.device != "cuda":
        raise ValueError("train: --tf32 applies to --device cuda only")


def environment(device: str) -> dict:
    """Versions and the device's name, for config.json."""
    info = {"python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform()}
    from . import __version__
    info["minifb"] = __version__
    if device == "cuda":
        cupy = backend.xp_for("cuda")
        info["cupy"] = cupy.__version__
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        info["device_name"] = name.decode() if isinstance(name, bytes) else name
    else:
        info["device_name"] = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    return info


# ---- data on the device -------------------------------------------------------------------------

@dataclasses.dataclass
class TaskData:
    """A dataset held on the training device, and how raw examples become model input.

    ``train_x``/``test_x`` are raw arrays (uint8 images, int16 or float32 waveforms);
    ``augment(x, rng)`` turns a raw training batch into augmented float32 model input, drawing
    its random choices from the NumPy generator ``rng``; ``prepare(x)`` does the same without
    augmentation (evaluation).
    """

    train_x: object
    train_y: object
    test_x: object
    test_y: object
    augment: Callable
    prepare: Callable
    num_classes: int
    unit: str  # "images" or "clips", for the throughput in the metrics


def subset(n: int, limit: int | None) -> np.ndarray:
    """Indices of the first ``limit`` examples of a fixed shuffle (all classes, not just the first)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:limit])


def load_speech_commands(data_dir, train: bool, download: bool):
    """(int16 waveforms, labels) of the 12-class task: the full archive's official split when its
    word folders are under ``data_dir``, else the speaker-disjoint split of the v0.02 test set."""
    from .data import speech_commands as sc
    split = "train" if train else "test"
    if (sc.dataset_folder(data_dir, "v0.02") / "yes").is_dir():
        return sc.load_speech_commands(data_dir, split=split)[:2]
    return sc.load_speech_commands_test_set_split(data_dir, split, download=download)[:2]


def cifar10_pipeline():
    """(augment, prepare) of CIFAR-10: random crop (pad 4) and flip, then the CIFAR mean/std."""
    from .data import normalize, random_crop_flip
    augment = lambda x, rng: Tensor(normalize(random_crop_flip(x, padding=4, rng=rng)))  # noqa: E731
    prepare = lambda x: Tensor(normalize(x))  # noqa: E731
    return augment, prepare


def speech_pipeline(train_waveforms, data_dir):
    """(augment, prepare) of Speech Commands: int16 clips -> (N, 1, 40, 98) standardised log-mel.

    Augmentation (the dataset's reference recipe): a time shift of up to 100 ms, then background
    noise from ``_background_noise_`` (when that folder is there). The 40 mel bands are
    standardised with each band's mean and standard deviation over the training clips.
    """
    from .data import (load_background_noise, log_mel_spectrogram, mix_background_noise, pcm16_to_float,
                       random_time_shift, stack_noise)
    xp = backend.get_array_module(train_waveforms)

    def log_mel(waveforms):
        return log_mel_spectrogram(pcm16_to_float(waveforms) if waveforms.dtype.kind == "i" else waveforms)

    chunks = [log_mel(train_waveforms[i:i + 500]) for i in range(0, len(train_waveforms), 500)]
    count = sum(len(c) * c.shape[2] for c in chunks)
    mean = sum(c.sum(axis=(0, 2)) for c in chunks) / count
    std = xp.sqrt(sum(((c - mean[:, None]) ** 2).sum(axis=(0, 2)) for c in chunks) / count)
    scale, shift = (1 / xp.maximum(std, 1e-6))[:, None], mean[:, None]
    features = lambda waveforms: Tensor(((log_mel(waveforms) - shift) * scale)[:, None])  # noqa: E731
    try:
        bank, lengths = stack_noise(load_background_noise(data_dir).values())
        noise = xp.asarray(bank)
    except OSError:
        noise = None
        print(f"train: no _background_noise_ folder under {data_dir}: augmenting with time shifts only",
              file=sys.stderr)

    def augment(waveforms, rng):
        shifted = random_time_shift(pcm16_to_float(waveforms), rng=rng)
        return features(shifted if noise is None else mix_background_noise(shifted, noise, lengths, rng=rng))
    return augment, features


def load_task(task: str, data_dir: str, download: bool, device: str, limit_train=None, limit_test=None,
              with_train: bool = True) -> TaskData:
    """The task's data on ``device`` (training arrays None unless ``with_train``).

    CIFAR-10 from the official pickles, or the shipped sample (no ``data_dir`` needed); Speech
    Commands as :func:`load_speech_commands` says (its training clips are read even without
    ``with_train``: they give the feature statistics).
    """
    from .data import LABELS_12, load_cifar10, load_cifar10_sample
    xp = backend.xp_for(device)
    if task == "cifar10":
        load = lambda train: load_cifar10(data_dir, train=train, download=download)  # noqa: E731
    elif task == "cifar10-sample":
        load = load_cifar10_sample
    else:
        load = lambda train: load_speech_commands(data_dir, train, download)  # noqa: E731

    def on_device(train: bool, limit):
        x, y = load(train)
        keep = subset(len(y), limit)
        return xp.asarray(np.ascontiguousarray(x[keep])), xp.asarray(y[keep], dtype=xp.int64)
    test_x, test_y = on_device(False, limit_test)
    if task != "speech-commands":
        train_x, train_y = on_device(True, limit_train) if with_train else (None, None)
        augment, prepare = cifar10_pipeline()
        return TaskData(train_x, train_y, test_x, test_y, augment, prepare, 10, "images")
    train_x, train_y = on_device(True, limit_train)
    augment, prepare = speech_pipeline(train_x, data_dir)
    if not with_train:
        train_x = train_y = None
    return TaskData(train_x, train_y, test_x, test_y, augment, prepare, len(LABELS_12), "clips")


# ---- the training loop --------------------------------------------------------------------------

def steps_per_epoch(examples: int, batch_size: int) -> int:
    return max(examples // batch_size, 1)


def train_one_epoch(model, optimizer, data: TaskData, batch_size: int, seed: int, epoch: int,
                    label_smoothing: float = 0.0, schedule=None, progress: bool = True) -> dict:
    """One pass over the shuffled training set; returns loss, accuracy, seconds, throughput.

    Batches have a fixed size (the last partial one is dropped unless it is the only one):
    fixed shapes keep the GPU's FFT plans and memory pools reusable.
    """
    from .models import training_loss
    xp = backend.get_array_module(data.train_x)
    # Everything random in an epoch (order, augmentation, dropout) comes from (seed, epoch) alone,
    # so a resumed run draws exactly what an uninterrupted one would have drawn.
    rng = np.random.default_rng([seed, epoch])
    backend.seed(int(rng.integers(2**31)))  # dropout masks, on the CPU and on the GPU
    n = len(data.train_y)
    order = xp.asarray(rng.permutation(n))
    steps = steps_per_epoch(n, batch_size)
    model.train()
    loss_sum = xp.zeros((), xp.float64)
    correct = xp.zeros((), xp.int64)
    seen = 0
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress)
    for step in bar:
        index = order[step * batch_size:(step + 1) * batch_size]
        x, y = data.augment(data.train_x[index], rng), data.train_y[index]
        logits = model(x)
        loss = training_loss(model, logits, y, label_smoothing=label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        loss_sum += loss.data * len(index)
        correct += (logits.data.argmax(axis=1) == y).sum()
        seen += len(index)
        if progress and (step + 1) % PROGRESS_EVERY == 0:
            bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}")
    loss_mean, accuracy = float(loss_sum) / seen, int(correct) / seen  # waits for the GPU once
    seconds = time.perf_counter() - start
    return {"train_loss": loss_mean, "train_accuracy": accuracy, "seconds": seconds,
            f"{data.unit}_per_second": seen / seconds}


def evaluate(model, x_all, y_all, prepare: Callable, batch_size: int = EVAL_BATCH) -> dict:
    """Test loss and accuracy without augmentation; for feedback models also the accuracy after
    each refinement step and the mean of ``model.diagnostics()`` over batches."""
    xp = backend.get_array_module(x_all)
    model.eval()
    n = len(y_all)
    loss_sum = xp.zeros((), xp.float64)
    correct = xp.zeros((), xp.int64)
    step_correct = None
    diagnostics: dict[str, float] = {}
    with no_grad():
        for first in range(0, n, batch_size):
            x, y = prepare(x_all[first:first + batch_size]), y_all[first:first + batch_size]
            logits = model(x)
            loss_sum += cross_entropy(logits, y, reduction="sum").data
            correct += (logits.data.argmax(axis=1) == y).sum()
            step_logits = getattr(model, "step_logits", None)
            if step_logits:
                hits = xp.stack([(s.data.argmax(axis=1) == y).sum() for s in step_logits])
                step_correct = hits if step_correct is None else step_correct + hits
            if hasattr(model, "diagnostics"):
                weight = len(y) / n
                for key, value in model.diagnostics().items():
                    diagnostics[key] = diagnostics.get(key, 0.0) + weight * value
    result = {"test_loss": float(loss_sum) / n, "test_accuracy": int(correct) / n}
    if step_correct is not None:
        result["test_accuracy_per_step"] = [int(c) / n for c in backend.asnumpy(step_correct)]
    result.update(diagnostics)
    return result


def build_optimizer(model, config: dict):
    from . import optim
    if config["weight_decay"]:
        return optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return optim.Adam(model.parameters(), lr=config["lr"])


def build_schedule(optimizer, config: dict, examples: int):
    """None for a constant learning rate, else warm-up and cosine decay over the whole run, per step."""
    if config["schedule"] == "constant":
        return None
    from .optim import CosineWarmup
    steps = steps_per_epoch(examples, config["batch_size"])
    return CosineWarmup(optimizer, config["warmup_epochs"] * steps, config["epochs"] * steps)


def fit(model, optimizer, data: TaskData, config: dict, out: pathlib.Path, start_epoch: int = 1,
        stop_after: int | None = None, time_limit: float | None = None, progress: bool = True,
        schedule=None) -> dict | None:
    """Epochs ``start_epoch..config['epochs']``: train, evaluate, append metrics, checkpoint.

    Returns the final evaluation, or None when ``stop_after`` epochs are done or the next epoch
    would end after ``time_limit`` seconds (judged by the slowest epoch so far); the checkpoint
    then holds the last finished epoch.
    """
    from .checkpoint import save_checkpoint
    started = time.perf_counter()
    slowest = 0.0
    epochs = range(start_epoch, config["epochs"] + 1)
    bar = tqdm(epochs, desc="training", unit="epoch", disable=not progress)
    for done, epoch in enumerate(bar, 1):
        epoch_start = time.perf_counter()
        record = {"epoch": epoch, "lr": optimizer.lr}  # at the epoch's start
        record.update(train_one_epoch(model, optimizer, data, config["batch_size"], config["seed"], epoch,
                                      config["label_smoothing"], schedule, progress))
        record.update(evaluate(model, data.test_x, data.test_y, data.prepare))
        bar.set_postfix(test_accuracy=f"{record['test_accuracy']:.4f}")
        # Metrics first, then the checkpoint: an interruption in between leaves a metrics line
        # past the checkpoint, which --resume drops and writes again.
        append_line(out / "metrics.jsonl", record)
        save_checkpoint(out / "checkpoint.npz", model, optimizer, schedule, extra={"epoch": epoch, "config": config})
        if epoch == config["epochs"]:
            write_final(out, record)
            return record
        slowest = max(slowest, time.perf_counter() - epoch_start)
        if stop_after is not None and done >= stop_after:
            return None
        if time_limit is not None and time.perf_counter() - started + slowest > time_limit:
            return None
    return None


# ---- files --------------------------------------------------------------------------------------

def to_json(value, indent=None) -> str:
    """Strict JSON: NaN and infinities (a contraction ratio after a zero change) become null."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(value), indent=indent, allow_nan=False)


def write_lines(path: pathlib.Path, lines) -> None:
    """Write text lines through a temporary name: a reader never sees half a file."""
    with atomic_write(path, "train") as f:
        f.write("".join(line + "\n" for line in lines).encode())


def write_json(path: pathlib.Path, value) -> None:
    """``value`` as indented JSON (non-finite numbers as null), written atomically."""
    write_lines(path, [to_json(value, indent=2)])


def append_line(path: pathlib.Path, record: dict) -> None:
    """Append one JSON line, rewriting the file atomically (it is small: one line per epoch)."""
    lines = path.read_text().splitlines() if path.exists() else []
    write_lines(path, lines + [to_json(record)])


def write_final(out: pathlib.Path, record: dict) -> None:
    """OUT/final.json: the last epoch's evaluation."""
    write_json(out / "final.json", {k: v for k, v in record.items() if k != "lr"})


def keep_epochs_up_to(path: pathlib.Path, last_epoch: int) -> None:
    """Drop metric lines after the checkpoint's epoch (written after it by an interrupted run)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        write_lines(path, [line for line in lines if json.loads(line)["epoch"] <= last_epoch])


def write_config(out: pathlib.Path, config: dict, model, data: TaskData, device: str) -> None:
    """OUT/config.json: the command line that started the run, its settings, versions, device."""
    from .models import count_parameters
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {
        "command": shlex.join([os.path.basename(sys.executable), "-m", "minifb", *sys.argv[1:]]),
        "argv": sys.argv[1:], "cwd": os.getcwd(), "device": device, **config,
        "num_parameters": count_parameters(model),
        "train_examples": len(data.train_y), "test_examples": len(data.test_y),
        "environment": environment(device),
    })


# ---- the command --------------------------------------------------------------------------------

def run(args) -> int:
    from . import models
    from .checkpoint import load_checkpoint
    config = run_config(args)
    check_arguments(args, config)
    if args.model not in models.available():
        raise ValueError(f"train: unknown model {args.model!r}; available: {', '.join(models.available())}")
    backend.check_device(args.device)
    if args.tf32:
        backend.set_tf32(True)
    out = pathlib.Path(args.out or f"runs/{args.task}-{args.model}-s{args.seed}")
    checkpoint = out / "checkpoint.npz"
    if args.resume and not checkpoint.exists():
        raise OSError(f"train: --resume given but there is no checkpoint at {checkpoint}")
    if not args.resume and checkpoint.exists():
        raise OSError(f"train: {out} already holds a run; pass --resume to continue it or choose another --out")

    data = load_task(args.task, args.data_dir, args.download, args.device, args.limit_train, args.limit_test)
    backend.seed(args.seed)
    model = models.create(args.model, num_classes=data.num_classes, **config["model_config"]).to(args.device)
    optimizer = build_optimizer(model, config)
    schedule = build_schedule(optimizer, config, len(data.train_y))
    start_epoch = 1
    if args.resume:
        extra = load_checkpoint(checkpoint, model, optimizer, schedule)
        stored = extra["config"]
        changed = {k: (stored.get(k), v) for k, v in config.items() if k != "epochs" and stored.get(k) != v}
        if changed:
            raise ValueError("train: --resume with different settings than the stored run: "
                             + ", ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in changed.items()))
        start_epoch = int(extra["epoch"]) + 1
        keep_epochs_up_to(out / "metrics.jsonl", start_epoch - 1)
        if start_epoch > config["epochs"]:  # finished; interrupted at most before final.json
            if not (out / "final.json").exists():
                write_final(out, json.loads((out / "metrics.jsonl").read_text().splitlines()[-1]))
            print(f"{out}: already trained for {start_epoch - 1} epochs")
            return 0
    else:
        write_config(out, config, model, data, args.device)
        keep_epochs_up_to(out / "metrics.jsonl", 0)  # a line left by a first epoch interrupted before its checkpoint
    final = fit(model, optimizer, data, config, out, start_epoch, args.stop_after, args.time_limit,
                not args.no_progress, schedule)
    if final is None:
        print(f"{out}: stopped before the last epoch; continue with --resume")
    else:
        print(to_json({"out": str(out), "test_accuracy": final["test_accuracy"], "test_loss": final["test_loss"]}))
    return 0
