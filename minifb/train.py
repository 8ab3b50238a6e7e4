"""``python -m minifb train TASK --model NAME ...``: train a model on CIFAR-10, Speech Commands or
a Long Range Arena task (lra-listops, lra-image, lra-pathfinder).

A run folder (``--out``) receives (minifb/run_folder.py):

- ``config.json``: the exact command line, every setting, library versions and the device name;
- ``metrics.jsonl``: one JSON object per epoch (losses, accuracies, seconds, throughput, learning
  rate, and the feedback diagnostics of models that have them; the val_ entries for the tasks
  with a validation split);
- ``checkpoint.npz``: model, optimizer and schedule after the last finished epoch, written
  atomically; ``--resume`` continues from it and reaches the same result as a run that was never
  interrupted, because everything random in an epoch (data order, augmentation, dropout) is drawn
  from generators seeded by (seed, epoch);
- ``final.json``: the test evaluation of the last epoch.

``--gpus N`` trains data-parallel on N GPUs, one process each (minifb/distributed): the batch is
the global one, split evenly over the ranks, gradients are averaged through NCCL, and rank 0
alone writes the run folder. One process is exactly the single-device loop.

The options and recipes are in minifb/recipes.py, the data and its pipelines in
minifb/data/tasks.py. The loop is lean on the GPU: the whole raw dataset sits on the device and is
augmented there, and loss and accuracy are summed on the device and read once per epoch (and every
``PROGRESS_EVERY`` steps for the progress bar). A training loss that is not finite stops the run
at the first of those readings that sees it (on the CPU, where a reading costs nothing, at its
step), naming the epoch and the steps; the checkpoint keeps the last epoch that finished finite.
"""
from __future__ import annotations

import math
import pathlib
import time
from typing import Callable

import numpy as np
from tqdm import tqdm

from . import backend, models
from . import distributed
from .distributed import DataParallel, EpochSampler, broadcast_model, check_identical, launch
from .autograd import cross_entropy, no_grad
from .checkpoint import load_checkpoint, save_checkpoint
from .cuda_graph import CapturedStep
from .data.tasks import TaskData, load_task
from .layers.feedback import RefiningClassifier
from .recipes import add_arguments, build_optimizer, build_schedule, check_arguments, run_config
from .run_folder import append_line, keep_epochs_up_to, last_record, to_json, write_config, write_final
# Known to callers as minifb.train.<name> as well:
from .data.tasks import subset  # noqa: F401
from .recipes import FEEDBACK_SETTINGS, model_config, recipe  # noqa: F401

class NonFiniteLoss(RuntimeError):
    """The training (or test) loss became NaN or infinite: the run stops, its checkpoint kept."""


def _check_finite(loss_sum: float, seen: int, epoch: int, first: int, last: int, steps: int) -> None:
    """Raise unless the loss summed over the steps so far is finite; the bad step is in first..last."""
    if math.isfinite(loss_sum):
        return
    where = f"step {last}" if first == last else f"between steps {first} and {last}"
    raise NonFiniteLoss(f"train: the training loss is {loss_sum / max(seen, 1)} in epoch {epoch}, {where} of "
                        f"{steps} (a learning rate too high, or NaN in the data? minifb.detect_anomaly() "
                        f"names the op that made it)")


def _reads_are_free(xp) -> bool:
    """Reading a loss on the host costs nothing for NumPy; on the GPU it waits for the device."""
    return xp is np


PROGRESS_EVERY = 50  # steps between the progress bar's loss readings (each one waits for the GPU)
EVAL_BATCH = 500


def training_step(model, optimizer, label_smoothing: float = 0.0, cuda_graph: bool = False, reducer=None):
    """The step of the loop as a function (x, y) -> (loss, logits) arrays: forward, loss, backward,
    update. With ``cuda_graph`` it is recorded once as a CUDA graph and replayed (minifb/cuda_graph.py);
    with a ``reducer`` (minifb.distributed.GradientReducer) backward averages the gradients over the ranks."""
    def step(x, y):
        logits = model(x)
        loss = models.training_loss(model, logits, y, label_smoothing=label_smoothing)
        optimizer.zero_grad()
        if reducer is None:
            loss.backward()
        else:
            reducer.backward(loss)
        optimizer.step()
        return loss, logits
    if cuda_graph:
        return CapturedStep(step, [optimizer])
    return lambda x, y: tuple(t.data for t in step(x, y))


def train_one_epoch(model, optimizer, data: TaskData, batch_size: int, seed: int, epoch: int,
                    label_smoothing: float = 0.0, schedule=None, progress: bool = True, step=None,
                    parallel: DataParallel | None = None) -> dict:
    """One pass over the shuffled training set; returns loss, accuracy, seconds, throughput.

    ``step`` is the ``training_step`` to use (kept across epochs, as a recorded graph must be).
    Batches have a fixed size (the last partial one is dropped unless it is the only one):
    fixed shapes keep the GPU's FFT plans, memory pools and graphs reusable. With ``parallel``
    this rank trains on its share of each batch and the metrics are those of all ranks together.
    """
    step = step or training_step(model, optimizer, label_smoothing)
    check = getattr(step, "check", lambda: None)  # deferred device-side checks of a captured step
    xp = backend.get_array_module(data.train_x)
    # Everything random in an epoch (order, augmentation, dropout) comes from (seed, epoch) alone,
    # so a resumed run draws exactly what an uninterrupted one would have drawn.
    n = len(data.train_y)
    sampler = parallel.sampler(n, batch_size, seed) if parallel else EpochSampler(n, batch_size, seed)
    batches, rng, dropout_seed = sampler.epoch(epoch)
    backend.seed(dropout_seed)  # dropout masks, on the CPU and on the GPU
    batches = xp.asarray(batches)
    model.train()
    loss_sum, correct, seen = xp.zeros((), xp.float64), xp.zeros((), xp.int64), 0
    every_step = _reads_are_free(xp) and parallel is None  # with parallel, all ranks check together
    finite_until = 0  # the steps known to have had finite losses
    start = time.perf_counter()
    bar = tqdm(range(len(batches)), desc=f"epoch {epoch}", unit="batch", leave=False, disable=not progress)
    for i in bar:
        index = batches[i]
        x, y = data.augment(data.train_x[index], rng), data.train_y[index]
        loss, logits = step(x, y)
        if schedule is not None:
            schedule.step()
        loss_sum += loss * len(index)
        correct += (logits.argmax(axis=1) == y).sum()
        seen += len(index)
        if every_step:
            _check_finite(float(loss_sum), seen, epoch, i + 1, i + 1, len(batches))
            finite_until = i + 1
        if progress and (i + 1) % PROGRESS_EVERY == 0:
            check()
            total = float(loss_sum)
            if parallel is None:
                _check_finite(total, seen, epoch, finite_until + 1, i + 1, len(batches))
                finite_until = i + 1
            bar.set_postfix(loss=f"{total / seen:.4f}")
    check()
    loss_sum, correct = float(loss_sum), int(correct)  # waits for the GPU once
    if parallel is not None:  # the sums of all ranks
        loss_sum, correct, seen = parallel.communicator.all_reduce_values([loss_sum, correct, seen])
    _check_finite(loss_sum, seen, epoch, finite_until + 1, len(batches), len(batches))
    loss_mean, accuracy = loss_sum / seen, int(correct) / seen
    seconds = time.perf_counter() - start
    return {"train_loss": loss_mean, "train_accuracy": accuracy, "seconds": seconds,
            f"{data.unit}_per_second": seen / seconds}


def evaluate(model, x_all, y_all, prepare: Callable, batch_size: int = EVAL_BATCH) -> dict:
    """Test loss and accuracy without augmentation; for a RefiningClassifier also the accuracy
    after each refinement step and the mean of ``model.diagnostics()`` over batches."""
    xp = backend.get_array_module(x_all)
    model.eval()
    n = len(y_all)
    refining = isinstance(model, RefiningClassifier)
    loss_sum, correct, step_correct = xp.zeros((), xp.float64), xp.zeros((), xp.int64), 0
    diagnostics: dict[str, float] = {}
    with no_grad():
        for first in range(0, n, batch_size):
            x, y = prepare(x_all[first:first + batch_size]), y_all[first:first + batch_size]
            logits = model(x)
            loss_sum += cross_entropy(logits, y, reduction="sum").data
            correct += (logits.data.argmax(axis=1) == y).sum()
            if refining:
                step_correct = step_correct + xp.stack([(s.data.argmax(axis=1) == y).sum()
                                                        for s in model.step_logits])
                for key, value in model.diagnostics().items():
                    diagnostics[key] = diagnostics.get(key, 0.0) + len(y) / n * value
    result = {"test_loss": float(loss_sum) / n, "test_accuracy": int(correct) / n}
    if refining:
        result["test_accuracy_per_step"] = [int(c) / n for c in backend.asnumpy(step_correct)]
    return {**result, **diagnostics}


def fit(model, optimizer, data: TaskData, config: dict, out: pathlib.Path, start_epoch: int = 1,
        stop_after: int | None = None, time_limit: float | None = None, progress: bool = True,
        schedule=None, cuda_graph: bool = False, parallel: DataParallel | None = None) -> dict | None:
    """Epochs ``start_epoch..config['epochs']``: train, evaluate, append metrics, checkpoint.

    Returns the final evaluation, or None when ``stop_after`` epochs are done or the next epoch
    would end after ``time_limit`` seconds (judged by the slowest epoch so far); the checkpoint
    then holds the last finished epoch. ``cuda_graph``: replay the step from a CUDA graph.

    ``parallel``: train data-parallel with the other ranks. The model starts from rank 0's
    parameters, every rank evaluates the whole test set, the parameters are checked to be the same
    on every rank after each epoch, and only rank 0 writes files and shows progress.
    """
    reducer = None
    writer = parallel is None or parallel.is_main
    progress = progress and writer
    if parallel is not None:
        broadcast_model(model, parallel.communicator)
        reducer = parallel.reducer(model.parameters())
    step = training_step(model, optimizer, config["label_smoothing"], cuda_graph, reducer)
    # The bar counts finished epochs (it ends at N/N, also when the last epoch returns from the loop).
    bar = tqdm(total=config["epochs"], initial=start_epoch - 1, desc="training", unit="epoch",
               disable=not progress)
    with bar:
        return _epochs(model, optimizer, data, config, out, start_epoch, stop_after, time_limit, progress,
                       schedule, step, bar, parallel)


def _epochs(model, optimizer, data, config, out, start_epoch, stop_after, time_limit, progress,
            schedule, step, bar, parallel) -> dict | None:
    """fit's loop, advancing ``bar`` by one after each finished epoch."""
    writer = parallel is None or parallel.is_main
    started, slowest = time.perf_counter(), 0.0
    for done, epoch in enumerate(range(start_epoch, config["epochs"] + 1), 1):
        epoch_start = time.perf_counter()
        record = {"epoch": epoch, "lr": optimizer.lr}  # at the epoch's start
        kept = (f"{out / 'checkpoint.npz'} keeps epoch {epoch - 1}, the last with finite losses" if epoch > 1
                else "no checkpoint was written")
        try:
            record.update(train_one_epoch(model, optimizer, data, config["batch_size"], config["seed"], epoch,
                                          config["label_smoothing"], schedule, progress, step, parallel))
        except NonFiniteLoss as e:
            raise NonFiniteLoss(f"{e}; {kept}") from None
        if parallel is not None:
            check_identical(model, parallel.communicator, f"after epoch {epoch}")
        if data.val_x is not None:  # the validation split, under val_ names
            validation = evaluate(model, data.val_x, data.val_y, data.prepare)
            record.update({"val" + k[len("test"):]: v for k, v in validation.items() if k.startswith("test")})
        record.update(evaluate(model, data.test_x, data.test_y, data.prepare))
        if not math.isfinite(record["test_loss"]):  # the epoch's last updates broke the weights
            raise NonFiniteLoss(f"train: the test loss after epoch {epoch} is {record['test_loss']} (the "
                                f"training loss was finite up to the epoch's last step, the weights after it "
                                f"are not); {kept}")
        bar.set_postfix(test_accuracy=f"{record['test_accuracy']:.4f}")
        bar.update(1)
        # Metrics first, then the checkpoint: an interruption in between leaves a metrics line
        # past the checkpoint, which --resume drops and writes again.
        if writer:
            append_line(out / "metrics.jsonl", record)
            save_checkpoint(out / "checkpoint.npz", model, optimizer, schedule,
                            extra={"epoch": epoch, "config": config})
        if epoch == config["epochs"]:
            if writer:
                write_final(out, record)
            return record
        slowest = max(slowest, time.perf_counter() - epoch_start)
        if stop_after is not None and done >= stop_after:
            return None
        out_of_time = time_limit is not None and time.perf_counter() - started + slowest > time_limit
        if parallel is not None:  # rank 0's clock decides for all, or the ranks would part ways
            out_of_time = bool(parallel.communicator.broadcast_values([out_of_time])[0])
        if out_of_time:
            return None
    return None


def resume(out: pathlib.Path, config: dict, model, optimizer, schedule, writer: bool = True) -> int:
    """Load OUT/checkpoint.npz into the run; returns the first epoch still to train.

    The stored settings must equal ``config`` (more epochs are allowed); metric lines past the
    checkpoint are dropped, and final.json is written if a finished run stopped just before it
    (by the ``writer`` only: rank 0 of a data-parallel run).
    """
    extra = load_checkpoint(out / "checkpoint.npz", model, optimizer, schedule)
    stored = extra["config"]
    changed = {k: (stored.get(k), v) for k, v in config.items() if k != "epochs" and stored.get(k) != v}
    if changed:
        raise ValueError("train: --resume with different settings than the stored run: "
                         + ", ".join(f"{k} was {a!r}, now {b!r}" for k, (a, b) in changed.items()))
    done = int(extra["epoch"])
    if not writer:
        return done + 1
    keep_epochs_up_to(out / "metrics.jsonl", done)
    if done >= config["epochs"] and not (out / "final.json").exists():
        write_final(out, last_record(out / "metrics.jsonl"))
    return done + 1


def run(args) -> int:
    """The ``train`` command: check everything, then load, build, (resume,) fit.

    With ``--gpus N`` (N > 1) outside a launched group it starts N processes of itself through
    minifb.distributed.launch; inside one (RANK, WORLD_SIZE set) it trains as its rank."""
    config = run_config(args)
    check_arguments(args, config)
    if args.model not in models.available():
        raise ValueError(f"train: unknown model {args.model!r}; available: {', '.join(models.available())}")
    backend.check_device(args.device)
    group = distributed.from_environment()
    if args.gpus > 1 and group.world_size == 1:
        return launch.launch(args.gpus, launch.train_command(args.argv))
    if group.world_size != args.gpus:
        raise ValueError(f"train: --gpus {args.gpus} but this process was started as rank {group.rank} "
                         f"of {group.world_size} (RANK, WORLD_SIZE)")
    parallel = distributed.connect(group) if group.world_size > 1 else None  # before the GPU is used
    try:
        # Overflow and NaN are caught where they matter, as a loss that is not finite (NonFiniteLoss,
        # one line naming the epoch and the steps); NumPy's warnings on the way there are noise.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            status = train_in_folder(args, config, parallel)
    except BaseException:
        if parallel is not None:  # the other ranks may be waiting in a collective that never comes
            parallel.communicator.abort()
        raise
    if parallel is not None:
        parallel.communicator.close()
    return status


def train_in_folder(args, config: dict, parallel: DataParallel | None) -> int:
    """``run`` after the checks: the run folder, data, model, (resume,) fit."""
    writer = parallel is None or parallel.is_main
    out = pathlib.Path(args.out or f"runs/{args.task}-{args.model}-s{args.seed}")
    checkpoint = out / "checkpoint.npz"
    if args.resume and not checkpoint.exists():
        raise OSError(f"train: --resume given but there is no checkpoint at {checkpoint}")
    if not args.resume and checkpoint.exists():
        raise OSError(f"train: {out} already holds a run; pass --resume to continue it "
                      "or choose another --out")
    if args.tf32:
        backend.set_tf32(True)

    data = load_task(args.task, args.data_dir, args.download, args.device, args.limit_train, args.limit_test,
                     spec_augment=config["spec_augment"])
    backend.seed(args.seed)
    model = models.create(args.model, num_classes=data.num_classes, **config["model_config"]).to(args.device)
    optimizer = build_optimizer(model, config)
    schedule = build_schedule(optimizer, config, len(data.train_y))
    if args.resume:
        start_epoch = resume(out, config, model, optimizer, schedule, writer)
        if start_epoch > config["epochs"]:
            if writer:
                print(f"{out}: already trained for {start_epoch - 1} epochs")
            return 0
    else:
        start_epoch = 1
        if writer:
            write_config(out, config, model, data, args.device)
            # A line left by a first epoch that was interrupted before its checkpoint:
            keep_epochs_up_to(out / "metrics.jsonl", 0)
    final = fit(model, optimizer, data, config, out, start_epoch, args.stop_after, args.time_limit,
                not args.no_progress, schedule, args.cuda_graph, parallel)
    if not writer:
        return 0
    if final is None:
        print(f"{out}: stopped before the last epoch; continue with --resume")
    else:
        print(to_json({"out": str(out), "test_accuracy": final["test_accuracy"],
                       "test_loss": final["test_loss"]}))
    return 0

