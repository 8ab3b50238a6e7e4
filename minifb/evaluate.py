"""``python -m minifb eval CHECKPOINT``: test accuracy and loss of a trained model, as one JSON line.

The model is rebuilt from the run settings that ``train`` stores inside the checkpoint (task,
model name and settings, test subset), its weights are loaded, and the test set is evaluated
without augmentation. ``--steps-eval`` evaluates a feedback model with another number of
refinement steps than it was trained with.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from . import backend, models
from .checkpoint import load_checkpoint
from .data.tasks import load_task
from .layers.feedback import ContextualFeedback
from .run_folder import to_json
from .train import evaluate


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="checkpoint.npz written by `python -m minifb train`")
    parser.add_argument("--data-dir", default="data", help="where the dataset is")
    parser.add_argument("--download", action="store_true", help="download the official archive when missing")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--steps-eval", type=int, default=None, help="refinement steps T (feedback models)")


def stored_run(path) -> dict:
    """The run settings saved by ``train`` in a checkpoint, read before any model exists.

    A checkpoint is a plain .npz whose 'meta' entry is JSON (see minifb/checkpoint.py);
    ``train`` puts its settings under extra['config'].
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise OSError(f"eval: no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            extra = json.loads(str(archive["meta"])).get("extra") or {}
    except (ValueError, KeyError) as e:
        raise ValueError(f"eval: {path} is not a minifb checkpoint ({e})") from e
    if "config" not in extra:
        raise ValueError(f"eval: {path} holds no training settings; was it written by `python -m minifb train`?")
    return extra


def run(args) -> int:
    backend.check_device(args.device)
    extra = stored_run(args.checkpoint)
    config = extra["config"]
    # The same subsets as in training (Speech Commands' feature statistics come from the training clips).
    data = load_task(config["task"], args.data_dir, args.download, args.device,
                     config["limit_train"], config["limit_test"], with_train=False)
    model = models.create(config["model"], num_classes=data.num_classes, **config["model_config"]).to(args.device)
    load_checkpoint(args.checkpoint, model)
    if args.steps_eval is not None:
        if not isinstance(model, ContextualFeedback):
            raise ValueError(f"eval: --steps-eval applies to feedback models, not to {config['model']!r}")
        if args.steps_eval < 0:
            raise ValueError(f"eval: --steps-eval must be >= 0, got {args.steps_eval}")
        model.steps_eval = args.steps_eval
    result = {"checkpoint": str(args.checkpoint), "task": config["task"], "model": config["model"],
              "epoch": extra["epoch"], **evaluate(model, data.test_x, data.test_y, data.prepare)}
    print(to_json(result))
    return 0
