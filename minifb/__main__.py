"""``python -m minifb COMMAND ...``: train, eval, demo, plot, reference.

Each command lives in its own module, which provides ``add_arguments(parser)`` and
``run(args)``. A bad argument or missing data ends in one line on stderr and exit status 2, not
a traceback (set MINIFB_DEBUG=1 to see the traceback).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = {
    "train": ("minifb.train", "train a model on CIFAR-10 or Speech Commands"),
    "eval": ("minifb.evaluate", "evaluate a checkpoint on its test set"),
    "demo": ("minifb.demo", "offline CPU demo: CNN vs FeedbackCNN on the shipped CIFAR-10 sample"),
    "plot": ("minifb.plot", "plot learning curves of run folders to PNG"),
    "reference": ("minifb.reference", "export a model's weights, inputs, outputs and gradients to .npz"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="python -m minifb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module_name, help_text) in COMMANDS.items():
        module = modules[name] = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser, modules


def main(argv=None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # train --gpus N starts copies of itself
    try:
        result = modules[args.command].run(args)
    except (ValueError, RuntimeError, OSError, KeyError) as e:
        if os.environ.get("MINIFB_DEBUG") == "1":
            raise
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"minifb {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minifb {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
