"""``python -m minifb eval CHECKPOINT``: test accuracy and loss of a trained model, as a table.

The model is rebuilt from the run settings that ``train`` stores inside the checkpoint (task,
model name and settings, test subset), its weights are loaded, and the test set is evaluated
without augmentation. ``--steps-eval`` evaluates a feedback model with another number of
refinement steps than it was trained with. The table gives the run, the accuracy and loss,
and for feedback models one row per refinement step (its accuracy and diagnostics).
"""
from __future__ import annotations

import re

from . import backend, models
from .checkpoint import load_checkpoint, read_checkpoint
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
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON line instead of a table")


def stored_run(path) -> dict:
    """The run settings saved by ``train`` in a checkpoint, read before any model exists.

    A checkpoint is a plain .npz whose 'meta' entry is JSON (see minifb/checkpoint.py);
    ``train`` puts its settings under extra['config'].
    """
    meta, _ = read_checkpoint(path, "eval", prefixes=())
    extra = meta.get("extra") or {}
    if not isinstance(extra, dict) or "config" not in extra:
        raise ValueError(f"eval: {path} holds no training settings; was it written by `python -m minifb "
                         "train`?")
    return extra


def run(args) -> int:
    backend.check_device(args.device)
    extra = stored_run(args.checkpoint)
    config = extra["config"]
    # The same subsets as in training (Speech Commands' feature statistics come from the training clips).
    data = load_task(config["task"], args.data_dir, args.download, args.device,
                     config["limit_train"], config["limit_test"], with_train=False)
    model = models.create(config["model"], num_classes=data.num_classes,
                          **config["model_config"]).to(args.device)
    load_checkpoint(args.checkpoint, model)
    if args.steps_eval is not None:
        if not isinstance(model, ContextualFeedback):
            raise ValueError(f"eval: --steps-eval applies to feedback models, not to {config['model']!r}")
        if args.steps_eval < 0:
            raise ValueError(f"eval: --steps-eval must be >= 0, got {args.steps_eval}")
        model.steps_eval = args.steps_eval
    result = {"checkpoint": str(args.checkpoint), "task": config["task"], "model": config["model"],
              "epoch": extra["epoch"], **evaluate(model, data.test_x, data.test_y, data.prepare)}
    print(to_json(result) if args.json else table(result))
    return 0


def table(result: dict) -> str:
    """The result of :func:`run` for people: the run, accuracy and loss, then one row per refinement
    step for feedback models (the diagnostics named ``<name>_<t>``, see ContextualFeedback.diagnostics)."""
    lines = [f"{'checkpoint':15s} {result['checkpoint']}",
             f"{'model':15s} {result['model']} ({result['task']}, epoch {result['epoch']})",
             f"{'test accuracy':15s} {result['test_accuracy']:.2%}",
             f"{'test loss':15s} {result['test_loss']:.4f}"]
    per_step = result.get("test_accuracy_per_step") or []
    if len(per_step) > 1:
        by_step = {}
        for key, value in result.items():
            match = re.fullmatch(r"(.+)_(\d+)", key)
            if match:
                by_step.setdefault(match.group(1), {})[int(match.group(2))] = value
        columns = list(by_step)
        lines += ["", "feedback, per refinement step (t = 0: the plain forward pass):",
                  "  " + " ".join(f"{name:>12s}" for name in ["step", "accuracy"] + columns)]
        for t, accuracy in enumerate(per_step):
            cells = [f"{t:12d}", f"{accuracy:12.2%}"]
            cells += [f"{by_step[name][t]:12.4g}" if by_step[name].get(t) is not None else f"{'':12s}"
                      for name in columns]
            lines.append(("  " + " ".join(cells)).rstrip())
    return "\n".join(lines)
