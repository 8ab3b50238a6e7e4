"""``python -m minifb demo``: CNN against FeedbackCNN on real CIFAR-10 images, offline, on the CPU.

Both networks are the full architectures of the contextual-feedback source (docs/design.md), trained
with Adam 1e-3, random crop and flip, on the 2,000 training images of the CIFAR-10 sample that
ships with minifb, for four epochs (about two minutes on two cores), and tested on the sample's
1,000 test images. FeedbackCNN refines its last hidden state with its own prediction (head-only,
T = 2, learnable alpha); the demo prints its accuracy after each refinement step and how much
each step changed the logits. With matplotlib installed it also draws the learning curves.

Each model's run folder (OUT/cnn, OUT/feedback-cnn) is a normal training run:
``python -m minifb eval OUT/cnn/checkpoint.npz`` evaluates it again and ``python -m minifb plot``
draws it.
"""
from __future__ import annotations

import pathlib
import shutil
import time

from . import backend, models
from .plot import plot_runs, read_metrics
from .data.tasks import load_task
from .recipes import build_optimizer
from .run_folder import write_config
from .train import fit

MODELS = ("cnn", "feedback-cnn")


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="demo", help="folder for the two runs and the figure (default: demo)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per model (default 4)")
    parser.add_argument("--train-images", type=int, default=None, help="use fewer of the 2,000 training images")
    parser.add_argument("--test-images", type=int, default=None, help="use fewer of the 1,000 test images")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="default 64: more updates than the recipe's 128 on a small set")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_for(model: str, args) -> dict:
    """The settings of one demo run, in the form `train` stores (so `eval` can rebuild the model)."""
    return {"task": "cifar10-sample", "model": model, "model_config": {}, "epochs": args.epochs,
            "batch_size": args.batch_size, "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant", "warmup_epochs": 0,
            "label_smoothing": 0.0, "seed": 0,
            "limit_train": args.train_images, "limit_test": args.test_images, "tf32": False}


def run(args) -> int:
    counts = (args.epochs, args.batch_size, args.train_images or 1, args.test_images or 1)
    if min(counts) < 1:
        raise ValueError("demo: --epochs, --batch-size, --train-images and --test-images must be at least 1")
    out = pathlib.Path(args.out)
    data = load_task("cifar10-sample", None, False, "cpu", args.train_images, args.test_images)
    print(f"CIFAR-10 sample: {len(data.train_y)} training and {len(data.test_y)} test images (real, "
          f"shipped with minifb); {args.epochs} epochs per model on the CPU")
    finals = {}
    for name in MODELS:
        folder = out / name
        shutil.rmtree(folder, ignore_errors=True)  # a fresh run each time the demo is started
        config = config_for(name, args)
        backend.seed(config["seed"])
        model = models.create(name)
        write_config(folder, config, model, data, "cpu")
        started = time.perf_counter()
        finals[name] = fit(model, build_optimizer(model, config), data, config, folder,
                           progress=not args.no_progress)
        print(f"{name:13} {models.count_parameters(model):>9,} parameters   test accuracy "
              f"{finals[name]['test_accuracy']:.1%}   ({time.perf_counter() - started:.0f} s)")

    feedback = finals["feedback-cnn"]
    steps = feedback["test_accuracy_per_step"]
    print("FeedbackCNN test accuracy after each refinement step: "
          + ", ".join(f"t={t}: {a:.1%}" for t, a in enumerate(steps)))
    changes = [f"t={t}: {feedback[f'rel_change_{t}']:.3f}" for t in range(1, len(steps))]
    print("relative change of the logits per step, ||y_t - y_t-1|| / ||y_t||: " + ", ".join(changes))
    for t in range(2, len(steps)):
        ratio = feedback.get(f"contraction_{t}")
        if ratio is not None:
            verdict = "shrinking: the iteration contracts" if ratio < 1 else "not shrinking"
            print(f"empirical contraction factor at step {t}: {ratio:.3f} ({verdict})")

    try:
        figure = plot_runs({name: read_metrics(out / name) for name in MODELS}, out / "curves.png",
                           title="CIFAR-10 sample: CNN vs FeedbackCNN")
        print(f"learning curves: {figure}")
    except RuntimeError as e:  # matplotlib missing: the numbers above are the demo's result
        print(f"no figure: {e}")
    return 0
