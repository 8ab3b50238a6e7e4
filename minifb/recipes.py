"""What determines a training run: the recipes, the options of ``python -m minifb train``, and the
settings a run stores (and compares on ``--resume``).

The options come in groups, one function each (``add_arguments`` calls them in order); a new
option goes into its group's function and, when it changes the results, into :func:`run_config`.
"""
from __future__ import annotations

from . import models, optim
from .data.tasks import TASKS
from .layers.feedback import ALPHAS
from .settings_argument import read_settings

FEEDBACK_SETTINGS = ("steps_train", "steps_eval", "mode", "alpha", "step_loss", "alpha_init", "detach")
SPEC_AUGMENT_FIELDS = ("freq_masks", "freq_width", "time_masks", "time_width")


def recipe(task: str, model_name: str) -> dict:
    """Default optimiser settings and length of a run (docs/design.md, "CIFAR-10 networks" and FFTNet).

    CIFAR CNN/FeedbackCNN: Adam 1e-3, batch 128, 20 epochs. The ViT family: Adam 7e-4, batch 128;
    the source trains 100 epochs, 20 here by default so that a run fits the GPU budget (pass
    --epochs 100 for the full schedule). Their learning rate is constant.

    Speech Commands: Adam 2e-3 with a 3-epoch linear warm-up and cosine decay to 0, batch 128,
    60 epochs, and SpecAugment masks (2 bands of up to 7 of the 40 mels, 2 blocks of up to 12 of
    the 98 frames) on top of the time shift and background noise. With a constant 1e-3 and no
    masks (the first recipe), the audio CNN was still far from converged after 30 epochs of the
    3,941 clips of the test-set split (53% test accuracy, the training accuracy below it).

    Long Range Arena (LRA's configurations, lra_benchmarks/*/configs): ListOps batch 32, 5,000 steps
    (2 epochs of 96,000) with a peak learning rate of 0.05 / sqrt(1000) ~ 1.6e-3 after 1,000 warm-up
    steps, then 1/sqrt(step) decay, weight decay 0.1; Image batch 256, 5e-4, 200 epochs, warm-up
    1 epoch and cosine decay; Pathfinder-32 batch 512, 1e-3, 200 epochs, warm-up and cosine. The
    recipes take their batch, epochs and peak rate; schedule and weight decay are options
    (--schedule cosine --warmup-epochs 1 --weight-decay ...).
    """
    constant = {"schedule": "constant", "warmup_epochs": 0, "spec_augment": None}
    lra = {"lra-listops": {"lr": 1.6e-3, "batch_size": 32, "epochs": 2},
           "lra-image": {"lr": 5e-4, "batch_size": 256, "epochs": 200},
           "lra-pathfinder": {"lr": 1e-3, "batch_size": 512, "epochs": 200}}
    if task in lra:
        return {**lra[task], **constant}
    if task == "speech-commands":
        return {"lr": 2e-3, "batch_size": 128, "epochs": 60, "schedule": "cosine", "warmup_epochs": 3,
                "spec_augment": [2, 7, 2, 12]}
    if "vit" in model_name:
        return {"lr": 7e-4, "batch_size": 128, "epochs": 20, **constant}
    return {"lr": 1e-3, "batch_size": 128, "epochs": 20, **constant}


# ---- command line -------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    """Every option of ``python -m minifb train``."""
    add_task_arguments(parser)
    add_device_arguments(parser)
    add_optimizer_arguments(parser)
    add_run_arguments(parser)
    add_feedback_arguments(parser)


def add_task_arguments(parser) -> None:
    """What is trained, on which data."""
    parser.add_argument("task", choices=TASKS, help="dataset")
    parser.add_argument("--model", required=True, help="model name (see minifb.models.available())")
    parser.add_argument("--data-dir", default="data", help="where the dataset is (or is downloaded to)")
    parser.add_argument("--download", action="store_true", help="download the official archive when missing")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N", help="use N training examples")
    parser.add_argument("--limit-test", type=int, default=None, metavar="N",
                        help="use N test examples (and N validation examples where there is a split)")
    parser.add_argument("--config", "--model-config", dest="model_config", default=None,
                        metavar="JSON_OR_FILE",
                        help='model settings as a JSON object or a file of one, e.g. '
                             '\'{"dim": 64, "depth": 2, "heads": 4}\' for a smaller ViT or LRA classifier '
                             '(minifb.models.settings(NAME) lists them)')


def add_device_arguments(parser) -> None:
    """Where it runs."""
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--tf32", action="store_true",
                        help="TF32 tensor cores for float32 matmuls (cuda only)")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="record the training step once as a CUDA graph and replay it (cuda only; "
                             "experimental)")
    parser.add_argument("--gpus", type=int, default=1, metavar="N",
                        help="train data-parallel on N GPUs, one process each, gradients averaged "
                             "through NCCL (cuda only; --batch-size is the global batch, split evenly)")


def add_optimizer_arguments(parser) -> None:
    """The optimiser, its schedule and the loss (defaults: the recipe's)."""
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch (default: the recipe's)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the recipe's)")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="AdamW decoupled weight decay (default 0: Adam)")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default=None,
                        help="learning rate: constant or linear warm-up then cosine decay to 0 "
                             "(default: the recipe's)")
    parser.add_argument("--warmup-epochs", type=int, default=None,
                        help="warm-up of the cosine schedule, in epochs (default: the recipe's)")
    parser.add_argument("--spec-augment", default=None, metavar="F,WF,T,WT",
                        help="Speech Commands: F frequency masks of up to WF mel bands and T time masks of "
                             "up to WT frames per clip, or 'none' (default: the recipe's)")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)


def add_run_arguments(parser) -> None:
    """The run folder, resuming and stopping early."""
    parser.add_argument("--out", default=None, help="run folder (default: runs/TASK-MODEL-sSEED)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    parser.add_argument("--stop-after", type=int, default=None, metavar="N",
                        help="stop after N epochs of this invocation, as if interrupted "
                             "(continue with --resume)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="stop before an epoch that would end after SECONDS (continue with --resume)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_feedback_arguments(parser) -> None:
    """The settings of the feedback models (None: the model's default)."""
    feedback = parser.add_argument_group("feedback models (feedback-cnn, feedback-vit, feedback-audio-cnn, "
                                         "feedback-audio-resnet)")
    feedback.add_argument("--steps-train", type=int, default=None, help="refinement steps T while training")
    feedback.add_argument("--steps-eval", type=int, default=None, help="refinement steps T at evaluation")
    feedback.add_argument("--mode", choices=("head-only", "all-stages"), default=None)
    feedback.add_argument("--alpha", default=None, help="'learnable', 'raw', 'gated' or a number in [0, 1]")
    feedback.add_argument("--step-loss", action="store_true", default=None,
                          help="average the loss over all refinement steps")
    feedback.add_argument("--alpha-init", type=float, default=None,
                          help="where a learnable or gated alpha starts, in (0, 1) (default 0.5)")
    feedback.add_argument("--detach", choices=("none", "context", "steps"), default=None,
                          help="cut the fed-back logits ('context') or every step's inputs ('steps') "
                               "from the graph (default: none)")


# ---- the settings of a run ----------------------------------------------------------------------

def model_config(args) -> dict:
    """The model settings given on the command line (the rest are the model's defaults)."""
    config = {}
    for name in FEEDBACK_SETTINGS:
        value = getattr(args, name)
        if value is not None:
            config[name] = value
    if isinstance(config.get("alpha"), str) and config["alpha"] not in ALPHAS:
        try:
            config["alpha"] = float(config["alpha"])
        except ValueError:
            raise ValueError(f"train: --alpha must be one of {ALPHAS} or a number, "
                             f"got {args.alpha!r}") from None
    if config and not args.model.startswith("feedback"):
        flags = ", ".join("--" + k.replace("_", "-") for k in config)
        raise ValueError(f"train: {flags} only apply to feedback models, not to {args.model!r}")
    given = getattr(args, "model_config", None)
    if given:
        settings = read_settings(given, "train")
        clash = sorted(set(settings) & set(config))
        if clash:
            raise ValueError(f"train: {clash} given both by --config and by their own flags")
        config.update(settings)
    # The LRA classifiers take their task's size and vocabulary from the task they train on.
    if args.model.startswith("lra-") != args.task.startswith("lra-"):
        raise ValueError(f"train: the lra-* models train on the lra-* tasks only (model {args.model!r}, "
                         f"task {args.task!r})")
    if args.model.startswith("lra-"):
        config["task"] = args.task[len("lra-"):]
    return config


def spec_augment_setting(text: str | None, default):
    """--spec-augment 'F,WF,T,WT' as a list of four integers >= 0, 'none' as None, absent as ``default``."""
    if text is None:
        return default
    if text.strip().lower() == "none":
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != len(SPEC_AUGMENT_FIELDS) or min(values) < 0:
        raise ValueError(f"train: --spec-augment must be four integers >= 0 as F,WF,T,WT (e.g. 2,7,2,12) "
                         f"or 'none', got {text!r}")
    return values


def run_config(args) -> dict:
    """Every setting that determines the run's results (compared on --resume)."""
    defaults = recipe(args.task, args.model)
    given = {key: defaults[key] if getattr(args, key) is None else getattr(args, key)
             for key in ("epochs", "batch_size", "lr", "schedule", "warmup_epochs")}
    if args.warmup_epochs is None:  # the recipe's warm-up, shortened to fit a shorter run
        given["warmup_epochs"] = max(min(given["warmup_epochs"], given["epochs"] - 1), 0)
    return {
        "task": args.task,
        "model": args.model,
        "model_config": model_config(args),
        **given,
        "spec_augment": spec_augment_setting(args.spec_augment, defaults["spec_augment"]),
        "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing,
        "seed": args.seed,
        "limit_train": args.limit_train,
        "limit_test": args.limit_test,
        "tf32": args.tf32,
        # Each rank augments with its own draws, so the number of GPUs is part of a run's results.
        **({"gpus": args.gpus} if getattr(args, "gpus", 1) > 1 else {}),
    }


def check_arguments(args, config: dict) -> None:
    """Reject settings out of range, naming the option, before anything is loaded or written."""
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
    if config["spec_augment"] is not None and config["task"] != "speech-commands":
        raise ValueError(f"train: --spec-augment applies to speech-commands only, not to {config['task']}")
    if args.tf32 and args.device != "cuda":
        raise ValueError("train: --tf32 applies to --device cuda only")
    if args.cuda_graph and args.device != "cuda":
        raise ValueError("train: --cuda-graph applies to --device cuda only")
    if args.model in models.available():  # an unknown model is reported by the command itself
        if "num_classes" in config["model_config"]:
            raise ValueError("train: num_classes comes from the task; leave it out of --config")
        try:
            models.effective_settings(args.model, **config["model_config"])
        except ValueError as e:
            raise ValueError(f"train: --config: {e}") from None
    gpus = getattr(args, "gpus", 1)
    if gpus < 1:
        raise ValueError(f"train: --gpus must be at least 1, got {gpus}")
    if gpus > 1:
        if args.device != "cuda":
            raise ValueError(f"train: --gpus {gpus} trains on GPUs through NCCL: it needs --device cuda")
        if args.cuda_graph:
            raise ValueError("train: --cuda-graph and --gpus > 1 do not go together yet (the gradient "
                             "all-reduce is not captured)")
        if config["batch_size"] % gpus:
            raise ValueError(f"train: --batch-size {config['batch_size']} (the global batch) must be a "
                             f"multiple of --gpus {gpus}")


# ---- from settings to optimiser -----------------------------------------------------------------

def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Batches per epoch: fixed-size batches, the last partial one dropped unless it is the only one."""
    return max(examples // batch_size, 1)


def build_optimizer(model, config: dict):
    """Adam, or AdamW when the run has weight decay."""
    if config["weight_decay"]:
        return optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return optim.Adam(model.parameters(), lr=config["lr"])


def build_schedule(optimizer, config: dict, examples: int):
    """None for a constant learning rate, else warm-up and cosine decay over the whole run, per step."""
    if config["schedule"] == "constant":
        return None
    steps = steps_per_epoch(examples, config["batch_size"])
    return optim.CosineWarmup(optimizer, config["warmup_epochs"] * steps, config["epochs"] * steps)
