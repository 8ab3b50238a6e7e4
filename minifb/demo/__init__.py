"""``python -m minifb demo``: both methods of minifb on real CIFAR-10 images, in about a minute on a CPU.

Offline, on the 2,000 training and 1,000 test images that ship with minifb:

1. gradients: the backward passes of the FFT mixer, the Haar wavelets and a feedback loop
   against finite differences in float64 (minifb/demo/gradients.py);
2. FFT mixing against attention: the cost of one layer from 64 to 1,024 tokens, and the accuracy
   of a small ViT with either mixer over a few seeds (minifb/demo/mixing.py);
3. contextual feedback: whether the refinement converges (its empirical contraction factor) and
   what it does to accuracy, against the plain CNN (minifb/demo/feedback.py).

It ends with a one-screen summary in which every comparison of accuracies states whether the
difference is beyond the spread over seeds (a t-test at the 95% level) or within it, and writes
a figure (with matplotlib) and every number (JSON) beside it. The defaults take well under a
minute on two idle cores; ``--seeds``, ``--epochs`` and the image counts trade time for certainty.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import tempfile
import time

from . import feedback, gradients, mixing
from .statistics import mean_sd, paired, welch

DEFAULT_OUT = pathlib.Path(tempfile.gettempdir()) / "minifb-demo" / "demo.png"


def add_arguments(parser) -> None:
    parser.add_argument("--out", default=str(DEFAULT_OUT),
                        help="the figure to write (PNG); the numbers go beside it as .json (default: "
                             f"{DEFAULT_OUT})")
    parser.add_argument("--seeds", type=int, default=3, help="runs per model, seeds 0..N-1 (default 3)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per run (default 2)")
    parser.add_argument("--train-images", type=int, default=None, help="use fewer of the 2,000 training "
                                                                       "images")
    parser.add_argument("--test-images", type=int, default=None, help="use fewer of the 1,000 test images")
    parser.add_argument("--steps-eval", type=int, default=6,
                        help="refinement steps of the trained FeedbackCNN at test time (default 6; trained "
                             "with 2)")
    parser.add_argument("--tokens", default="64,256,1024", help="sequence lengths of the cost comparison")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: faster on a busy machine, see minifb/threads.py)")


def check_arguments(args) -> list[int]:
    for name in ("seeds", "epochs", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"demo: --{name} must be at least 1, got {getattr(args, name)}")
    for name in ("train_images", "test_images"):
        value = getattr(args, name)
        if value is not None and value < 100:
            raise ValueError(f"demo: --{name.replace('_', '-')} must be at least 100 (one batch), got "
                             f"{value}")
    if args.steps_eval < feedback.STEPS_TRAIN + 1:
        raise ValueError(f"demo: --steps-eval must exceed the {feedback.STEPS_TRAIN} training steps, got "
                         f"{args.steps_eval}")
    try:
        tokens = [int(n) for n in args.tokens.split(",")]
    except ValueError:
        raise ValueError(f"demo: --tokens must be comma-separated integers, got {args.tokens!r}") from None
    if not tokens or min(tokens) < 2:
        raise ValueError(f"demo: --tokens must be lengths of at least 2, got {args.tokens!r}")
    out = pathlib.Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"demo: --out names the figure and must end in .png, got {args.out!r}")
    return tokens


def run(args) -> int:
    from ..threads import blas_threads
    tokens = check_arguments(args)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with blas_threads(args.threads):
        results = experiments(args, tokens, started)
    results["seconds"] = time.perf_counter() - started
    from ..run_folder import write_json
    write_json(out.with_suffix(".json"), results)
    figure = None
    if importlib.util.find_spec("matplotlib") is not None:
        from .figure import draw
        figure = draw(results, out)
    results["seconds"] = time.perf_counter() - started
    lines = summary(results)
    print("\n".join(lines))
    print(f"figure: {figure}" if figure else 'figure: none (matplotlib is not installed: pip install '
                                             '"minifb[plot]")')
    print(f"numbers: {out.with_suffix('.json')}")
    return 0 if all(check["ok"] for check in results["gradients"]) else 1


def experiments(args, tokens, started) -> dict:
    from .training import load

    def say(text):
        print(f"{time.perf_counter() - started:5.1f}s {text}", flush=True)

    data = load(args.train_images, args.test_images)
    seeds = list(range(args.seeds))
    plot = "" if importlib.util.find_spec("matplotlib") else " (no figure: matplotlib is not installed)"
    say(f"minifb demo: {len(data.train_y)} training and {len(data.test_y)} test images of CIFAR-10 (real, "
        f"shipped with minifb) at 16x16; {args.seeds} seeds x {args.epochs} epochs per model; output "
        f"{args.out}{plot}")
    say("1/3 backward passes against finite differences (float64, on rows of real images)")
    checks = gradients.run(data.train_x, data.train_y, say)
    say(f"2/3 FFT mixing against attention: cost of one layer at {', '.join(map(str, tokens))} tokens")
    cost = mixing.mixer_cost(tokens)
    for n in tokens:
        a, f = [next(r for r in cost if r["mixer"] == kind and r["tokens"] == n)
                for kind in ("attention", "fft")]
        say(f"  N = {n:5d}: attention {1e3 * a['seconds']:7.1f} ms {a['macs'] / 1e6:7.2f} MMACs   "
            f"FFT {1e3 * f['seconds']:6.1f} ms {f['macs'] / 1e6:6.2f} MMACs")
    say("    accuracy of a small ViT (65 tokens) with each mixer")
    accuracy = mixing.accuracy_runs(data, seeds, args.epochs, say)
    say(f"3/3 feedback: FeedbackCNN trained with T = {feedback.STEPS_TRAIN}, tested for T = "
        f"0..{args.steps_eval}; "
        "the plain CNN as baseline")
    loops = feedback.runs(data, seeds, args.epochs, args.steps_eval, say)
    settings = {"seeds": args.seeds, "epochs": args.epochs, "train_images": len(data.train_y),
                "test_images": len(data.test_y), "steps_eval": args.steps_eval,
                "steps_train": feedback.STEPS_TRAIN,
                "tokens": tokens, "vit": mixing.VIT, "cnn": feedback.CNN, "threads": args.threads,
                "cpu_count": os.cpu_count()}
    return {"settings": settings, "gradients": checks, "cost": cost, "mixing": accuracy, "feedback": loops}


def _accuracies(runs, **match) -> list[float]:
    return [100 * r["test_accuracy"] for r in runs if all(r[k] == v for k, v in match.items())]


def _spread(values) -> str:
    mean, sd = mean_sd(values)
    return f"{mean:.1f} ± {sd:.1f}%"


def summary(results: dict) -> list[str]:
    """The one-screen account of what the demo showed, every comparison with its verdict."""
    s = results["settings"]
    lines = ["", f"summary ({s['seeds']} seeds x {s['epochs']} epochs, {s['train_images']} training / "
             f"{s['test_images']} test images; accuracies as mean ± sd over seeds; chance is 10%)"]
    failed = [c["name"] for c in results["gradients"] if not c["ok"]]
    checked = ", ".join(c["name"] for c in results["gradients"] if c["name"] != "control")
    lines.append(f"  gradients  {checked}: backward = finite differences (float64); the control was caught"
                 if not failed else f"  gradients  FAILED: {', '.join(failed)} (see above)")

    cost = {(r["mixer"], r["tokens"]): r for r in results["cost"]}
    shortest, longest = min(s["tokens"]), max(s["tokens"])
    ratios = []
    for n in (shortest, longest):
        a, f = cost["attention", n], cost["fft", n]
        ratios.append(f"{a['seconds'] / f['seconds']:.1f}x the time and {a['macs'] / f['macs']:.0f}x the "
                      f"MACs at {n} tokens")
    lines.append(f"  cost       attention against the FFT mixer, one layer: {'; '.join(ratios)} (N^2 against "
                 "N log N)")

    fft = _accuracies(results["mixing"], mixer="fft")
    attention = _accuracies(results["mixing"], mixer="attention")
    verdict = welch(fft, attention)
    lines.append(f"  mixing     ViT test accuracy: FFT mixer {_spread(fft)}, attention {_spread(attention)}; "
                 f"difference {verdict.difference:+.1f} points, {verdict}")

    loops = [r for r in results["feedback"] if r["model"] == "feedback-cnn"]
    factors = [c for r in loops for c in r["contraction"]]
    below = sum(c < 1 for c in factors)
    converges = ("the refinement converges" if below == len(factors)
                 else "the refinement does NOT always converge")
    lines.append(f"  feedback   {converges}: contraction factor {min(factors):.2f} to {max(factors):.2f} "
                 f"({below} of {len(factors)} steps below 1, over t = 2..{s['steps_eval']} and all seeds)")
    trained, first = ([100 * r["test_accuracy_per_step"][t] for r in loops] for t in (s["steps_train"], 0))
    last = [100 * r["test_accuracy_per_step"][-1] for r in loops]
    step_gain, overrun = paired(trained, first), paired(last, trained)
    against_cnn = welch(trained, _accuracies(results["feedback"], model="cnn"))
    lines.append(f"             accuracy at the trained T = {s['steps_train']}: {_spread(trained)}; against "
                 f"its own first pass (t = 0) {step_gain.difference:+.1f} points, {step_gain}")
    lines.append(f"             iterating on to t = {s['steps_eval']}: {overrun.difference:+.1f} points, "
                 f"{overrun}")
    lines.append("             against the plain CNN "
                 f"({_spread(_accuracies(results['feedback'], model='cnn'))}): {against_cnn.difference:+.1f} "
                 f"points, {against_cnn}")
    lines.append(f"  time       {results['seconds']:.0f} s ({s['cpu_count']} cores, BLAS on {s['threads']} "
                 "thread)")
    lines.append("  A difference 'within seed noise' is not a finding at this scale (more --seeds and "
                 "--epochs narrow it); the README's GPU tables have full-size runs.")
    return lines
