#!/usr/bin/env python3
"""Latency and peak memory of every token mixer of minifb against PyTorch, over sequence length.

    PYTHONPATH=. PYTHONUNBUFFERED=1 python benchmarks/mixers.py       # GPU: ~3 minutes on an H200
    PYTHONPATH=. python benchmarks/mixers.py --quick                    # CPU smoke run, small shapes

FFTNet's claim is global token mixing in O(N log N) at a lower latency than self-attention; this is
that comparison, measured. One mixer on x of shape (B, N, D), D = 384, 6 heads, float32, with a fixed
number of tokens B N = 32768 (so B = 32768 / N), for N = 256 ... 32768: the forward pass alone (no
tape) and forward + backward (the input's and the parameters' gradients for a fixed output
gradient), median of >= 20 steps after warm-up, synchronizing the device after each step, TF32 off
on both sides; and the peak memory of one forward + backward step beyond what was allocated before
it (CuPy's memory pool through a MemoryHook; torch.cuda.max_memory_allocated).

The mixers: minifb's attention (the plain reference, N x N weights), attention-kernel (the same
layer through the memory-efficient CUDA kernel, GPU only), "fused_attention alone" (that kernel
without the layer's projections, to set beside the bare SDPA), fft (FFTMixer), fft-windowed, wavelet,
hybrid (and any later entry of minifb.layers.vit.MIXERS); their PyTorch twins (tests/torch_checks,
weights drawn independently: timing does not depend on them; torch's attention twin is
nn.MultiheadAttention, which calls scaled_dot_product_attention); and the bare
torch.nn.functional.scaled_dot_product_attention on (B, 6, N, 64) q, k, v in float32 and bfloat16
(PyTorch picks its backend: flash attention for bfloat16 on recent GPUs).

A configuration is skipped, and said so in the results, when a step (after a first one that compiles
kernels and makes plans) takes more than 2 s (larger N of that mixer are then skipped too), when it
runs out of memory, or when the whole run has used its time budget (--budget). Writes JSON (default benchmarks/results/mixers.json) and a PNG of
latency against N, log-log, one line per mixer (default benchmarks/results/mixers.png; needs
matplotlib).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import pathlib
import sys
import time

import numpy as np

import minifb as mf
from minifb import backend
from minifb.atomic_file import atomic_write
from minifb.autograd import attention_kernel
from minifb.layers.vit import MIXERS, make_mixer
from timing import environment, median_ms, out_of_memory_errors, torch_sync, write_json

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MODES = ("forward", "forward+backward")
STEP_LIMIT_S = 2.0


class Skip(Exception):
    """A configuration that is not measured, with the reason."""


# ---- the steps: a function of no arguments per (mixer, mode) ---------------------------------------

def minifb_steps(kind: str, batch: int, n: int, dim: int, heads: int, device: str) -> dict:
    """Forward and forward + backward of one minifb mixer on a fixed float32 input."""
    use_kernel = kind == "attention-kernel"
    if use_kernel and device != "cuda":
        raise Skip("the attention kernel runs on CUDA only")
    mf.seed(0)
    mixer = make_mixer("attention" if use_kernel else kind, dim, n, heads).to(device)
    xp = backend.xp_for(device)
    rng = np.random.default_rng(0)
    x = mf.tensor(xp.asarray(rng.standard_normal((batch, n, dim), dtype=np.float32)), requires_grad=True)
    g = xp.asarray(rng.standard_normal((batch, n, dim), dtype=np.float32))

    def with_kernel(step):
        def run():
            previous = attention_kernel.enabled()
            attention_kernel.set_enabled(use_kernel)
            try:
                step()
            finally:
                attention_kernel.set_enabled(previous)
        return run

    def forward():
        with mf.no_grad():
            mixer(x)

    def forward_backward():
        mixer.zero_grad()
        x.grad = None
        mixer(x).backward(g)
    return {"forward": with_kernel(forward), "forward+backward": with_kernel(forward_backward)}


def torch_twin_steps(kind: str, batch: int, n: int, dim: int, heads: int, device: str) -> dict:
    import torch
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "torch_checks"))
    from torch_models import torch_mixer
    torch.manual_seed(0)
    mixer = torch_mixer(kind, dim, n, heads, 0.0).to(device)
    x = torch.randn(batch, n, dim, device=device, requires_grad=True)
    g = torch.randn(batch, n, dim, device=device)

    def forward():
        with torch.no_grad():
            mixer(x)

    def forward_backward():
        mixer.zero_grad(set_to_none=True)
        x.grad = None
        mixer(x).backward(g)
    return {"forward": forward, "forward+backward": forward_backward}


def kernel_core_steps(batch: int, n: int, dim: int, heads: int, device: str) -> dict:
    """The attention kernel alone on packed projections (B, N, 3D), beside the bare SDPA of PyTorch."""
    if device != "cuda":
        raise Skip("the attention kernel runs on CUDA only")
    cupy = backend.xp_for("cuda")
    rng = np.random.default_rng(0)
    qkv = mf.tensor(cupy.asarray(rng.standard_normal((batch, n, 3 * dim), dtype=np.float32)), requires_grad=True)
    g = cupy.asarray(rng.standard_normal((batch, n, dim), dtype=np.float32))

    def forward():
        with mf.no_grad():
            attention_kernel.fused_attention(qkv, heads)

    def forward_backward():
        qkv.grad = None
        attention_kernel.fused_attention(qkv, heads).backward(g)
    return {"forward": forward, "forward+backward": forward_backward}


def sdpa_steps(dtype_name: str, batch: int, n: int, dim: int, heads: int, device: str) -> dict:
    import torch
    if dtype_name == "bf16" and device != "cuda":
        raise Skip("bfloat16 attention is timed on CUDA only")
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    q, k, v = (torch.randn(batch, heads, n, dim // heads, device=device, dtype=dtype, requires_grad=True)
               for _ in range(3))
    g = torch.randn(batch, heads, n, dim // heads, device=device, dtype=dtype)
    attend = torch.nn.functional.scaled_dot_product_attention

    def forward():
        with torch.no_grad():
            attend(q, k, v)

    def forward_backward():
        for t in (q, k, v):
            t.grad = None
        attend(q, k, v).backward(g)
    return {"forward": forward, "forward+backward": forward_backward}


def contenders(have_torch: bool) -> list[tuple[str, str, callable]]:
    """(name, library, builder of the steps) for every mixer timed."""
    kinds = list(MIXERS)
    out = [(kind, "minifb", lambda *a, kind=kind: minifb_steps(kind, *a)) for kind in kinds]
    out.insert(1, ("attention-kernel", "minifb", lambda *a: minifb_steps("attention-kernel", *a)))
    out.insert(2, ("fused_attention alone", "minifb", kernel_core_steps))
    if have_torch:
        out += [(f"torch {kind}", "torch", lambda *a, kind=kind: torch_twin_steps(kind, *a)) for kind in kinds]
        out += [(f"torch sdpa {t}", "torch", lambda *a, t=t: sdpa_steps(t, *a)) for t in ("fp32", "bf16")]
    return out


# ---- measuring one configuration ---------------------------------------------------------------------

def quadratic_bytes(name: str, batch: int, n: int, heads: int) -> int:
    """Bytes of the N x N arrays the plain attention keeps (weights, their gradient and temporaries:
    about five float32 arrays of B heads N^2); 0 for mixers without them."""
    return 5 * batch * heads * n * n * 4 if name == "attention" else 0


def free_memory(library: str, device: str) -> None:
    if device != "cuda":
        return
    if library == "minifb":
        backend.xp_for("cuda").get_default_memory_pool().free_all_blocks()
    else:
        import torch
        torch.cuda.empty_cache()


def available_bytes() -> int:
    """Free GPU memory, counting what CuPy's pool and PyTorch's cache hold but do not use."""
    cupy = backend.xp_for("cuda")
    free = cupy.cuda.runtime.memGetInfo()[0] + cupy.get_default_memory_pool().free_bytes()
    if importlib.util.find_spec("torch") is not None:
        import torch
        free += torch.cuda.memory_reserved() - torch.cuda.memory_allocated()
    return free


def peak_bytes(library: str, step, device: str) -> int | None:
    """Peak memory of one step beyond what was in use before it (GPU only)."""
    if device != "cuda":
        return None
    if library == "minifb":
        with backend.peak_pool_hook() as hook:
            step()
            backend.synchronize()
        return hook.peak - hook.start
    import torch
    torch.cuda.synchronize()
    start = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - start


def measure(library: str, steps: dict, mode: str, device: str, warmup: int, timed: int) -> dict:
    sync = backend.synchronize if library == "minifb" else torch_sync(device)
    step = steps[mode]
    step()  # compiles kernels and makes plans: not part of the step limit
    sync()
    start = time.perf_counter()
    step()
    sync()
    second = time.perf_counter() - start
    if second > STEP_LIMIT_S:
        raise Skip(f"a step took {second:.1f} s (limit {STEP_LIMIT_S:.0f} s)")
    result = {"ms": median_ms(step, sync, max(warmup - 2, 0), timed)}
    if mode == "forward+backward":
        result["peak_bytes"] = peak_bytes(library, step, device)
    return result


def run(args) -> dict:
    device = args.device or ("cpu" if args.quick else "cuda")
    backend.check_device(device)
    have_torch = importlib.util.find_spec("torch") is not None
    if device == "cuda":
        backend.set_tf32(False)
        if have_torch:
            import torch
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
    env = environment(device)
    settings = dict(tokens=args.tokens, dim=args.dim, heads=args.heads, lengths=args.lengths, steps=args.steps,
                    warmup=args.warmup, dtype="float32", tf32=False, device=device)
    print(json.dumps(env))
    print(json.dumps(settings))
    records, over_limit = [], set()
    deadline = time.perf_counter() + args.budget
    errors = out_of_memory_errors()
    for n in args.lengths:
        batch = args.tokens // n
        for name, library, build in contenders(have_torch):
            base = {"mixer": name, "library": library, "n": n, "batch": batch}
            try:
                if batch < 1:
                    raise Skip(f"fewer than {n} tokens in all")
                if (name, "forward") in over_limit:
                    raise Skip("a shorter sequence already took over the step limit")
                if time.perf_counter() > deadline:
                    raise Skip(f"the run's time budget of {args.budget:.0f} s was used")
                if device == "cuda" and quadratic_bytes(name, batch, n, args.heads) > 0.9 * available_bytes():
                    raise Skip("its N x N arrays would not fit in GPU memory")
                steps = build(batch, n, args.dim, args.heads, device)
            except Skip as reason:
                records += [dict(base, mode=mode, skipped=str(reason)) for mode in MODES]
                continue
            for mode in MODES:
                try:
                    if (name, mode) in over_limit:
                        raise Skip("a shorter sequence already took over the step limit")
                    records.append(dict(base, mode=mode, **measure(library, steps, mode, device,
                                                                    args.warmup, args.steps)))
                except Skip as reason:
                    over_limit.add((name, mode))
                    records.append(dict(base, mode=mode, skipped=str(reason)))
                except errors:
                    over_limit.add((name, mode))
                    records.append(dict(base, mode=mode, skipped="out of memory"))
                free_memory(library, device)
                last = records[-1]
                shown = f"{last['ms']:9.3f} ms" if "ms" in last else f"skipped: {last['skipped']}"
                print(f"N={n:6d} B={batch:4d} {name:22s} {mode:17s} {shown}", flush=True)
            del steps
            free_memory(library, device)
    return {"environment": env, "settings": settings, "results": records}


# ---- output ------------------------------------------------------------------------------------------

def print_table(results: dict) -> None:
    rows = results["results"]
    names = list(dict.fromkeys(r["mixer"] for r in rows))
    lengths = list(dict.fromkeys(r["n"] for r in rows))
    for mode in MODES:
        print(f"\n{mode}, median ms ('-': skipped)")
        print(f"{'mixer':22s}" + "".join(f"{n:>9d}" for n in lengths))
        for name in names:
            cells = {r["n"]: r.get("ms") for r in rows if r["mixer"] == name and r["mode"] == mode}
            print(f"{name:22s}" + "".join(f"{cells[n]:9.2f}" if cells.get(n) is not None else f"{'-':>9}"
                                          for n in lengths))


def write_plot(results: dict, path) -> bool:
    """Latency against N, log-log, one line per mixer, forward and forward + backward side by side."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure", file=sys.stderr)
        return False
    rows = results["results"]
    figure, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    names = list(dict.fromkeys(r["mixer"] for r in rows))
    kinds = list(dict.fromkeys(name.removeprefix("torch ") for name in names))  # a twin shares its colour
    colours = plt.get_cmap("tab20" if len(kinds) > 10 else "tab10")
    for axis, mode in zip(axes, MODES):
        for name in names:
            points = sorted((r["n"], r["ms"]) for r in rows if r["mixer"] == name and r["mode"] == mode and "ms" in r)
            if points:
                torch_side = name.startswith("torch ")
                axis.plot(*zip(*points), "--" if torch_side else "-", marker="s" if torch_side else "o",
                          color=colours(kinds.index(name.removeprefix("torch "))), label=name)
        axis.set(xscale="log", yscale="log", xlabel="sequence length N (B N fixed)", title=mode)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("median ms per step")
    s = results["settings"]
    figure.suptitle(f"token mixers, {s['tokens']} tokens of width {s['dim']}, {s['heads']} heads, float32 "
                    f"({results['environment'].get('device_name', s['device'])})")
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    with atomic_write(path, "mixers benchmark") as f:
        figure.savefig(f, format="png", dpi=110)
    plt.close(figure)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: 64 tokens of width 32, 2 heads")
    parser.add_argument("--device", default=None, help="cuda (default) or cpu (default with --quick)")
    parser.add_argument("--tokens", type=int, default=None, help="B N, fixed (default 32768)")
    parser.add_argument("--dim", type=int, default=None, help="model width D (default 384)")
    parser.add_argument("--heads", type=int, default=None, help="heads (default 6)")
    parser.add_argument("--lengths", type=int, nargs="+", default=None, help="N (default 256 ... 32768)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, 2 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 3, 1 with --quick)")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds, after which the rest is skipped")
    parser.add_argument("--json", default=None, help="results file (default benchmarks/results/mixers.json; "
                                                     "none with --quick unless given)")
    parser.add_argument("--png", default=None, help="figure (default benchmarks/results/mixers.png; "
                                                    "none with --quick unless given)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.tokens = args.tokens or (64 if quick else 32768)
    args.dim = args.dim or (32 if quick else 384)
    args.heads = args.heads or (2 if quick else 6)
    args.lengths = args.lengths or ([16, 32, 64] if quick else [2**k for k in range(8, 16)])
    args.steps = args.steps or (2 if quick else 20)
    args.warmup = args.warmup or (1 if quick else 3)
    for n in args.lengths:
        if n < 1 or math.log2(n) % 1:
            parser.error(f"--lengths: {n} is not a power of 2 (the windowed and wavelet mixers need one)")
    if args.dim % args.heads:
        parser.error(f"--dim {args.dim} is not a multiple of --heads {args.heads}")
    results = run(args)
    print_table(results)
    json_path = args.json or (None if quick else RESULTS / "mixers.json")
    png_path = args.png or (None if quick else RESULTS / "mixers.png")
    for path in (json_path, png_path):
        if path is not None:
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    if json_path is not None:
        write_json(json_path, results)
        print(f"wrote {json_path}")
    if png_path is not None and write_plot(results, png_path):
        print(f"wrote {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
