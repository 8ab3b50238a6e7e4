"""Part 1 of the demo: the backward passes of both methods against finite differences, on real pixels.

Each check runs ``minifb.gradcheck`` in float64 (central differences along random directions,
and element by element where an input has at most 256 entries; rtol 1e-5, atol 1e-7) on rows
of real CIFAR-10 images: the FFT token mixer (rFFT, adaptive filter, modReLU, inverse rFFT)
with respect to its tokens and its filter parameters; three levels of Haar wavelets, analysis
and synthesis; a feedback CNN's loss after two refinement steps with respect to its input, its
adapter, its context map and its alpha. A last check shows that the test can fail: an op whose
backward is 0.2% off is caught.
"""
from __future__ import annotations

import time

import numpy as np

from ..autograd import GradcheckError, Tensor, concatenate, gradcheck, haar_wavedec, haar_waverec
from ..autograd.function import record, tensors
from ..layers.module import functional_call
from ..testing import cast


def image_rows(images: np.ndarray, count: int = 2) -> np.ndarray:
    """``count`` grey-level images (N, 16, 16) as float64 tokens: (count, 16 rows, 16 pixels)."""
    return images[:count].mean(axis=1).astype(np.float64)


def check_fft_mixer(rows: np.ndarray) -> None:
    from ..layers.fft_mixer import FFTMixer
    mixer = cast(FFTMixer(dim=rows.shape[2], num_tokens=rows.shape[1], heads=2), np.float64)
    w_base, bias = mixer.filter.w_base, mixer.filter.bias
    gradcheck(lambda x, w, b: functional_call(mixer, {"filter.w_base": w, "filter.bias": b}, x),
              Tensor(rows), w_base, bias)


def check_haar(rows: np.ndarray) -> None:
    analysis = lambda x: concatenate(haar_wavedec(x, 3, axis=1), axis=1)  # noqa: E731
    gradcheck(analysis, Tensor(rows))
    coefficients = [Tensor(c.data) for c in haar_wavedec(Tensor(rows), 3, axis=1)]
    gradcheck(lambda *c: haar_waverec(list(c), axis=1), *coefficients)
    restored = haar_waverec(coefficients, axis=1).data
    if not np.allclose(restored, rows, rtol=0, atol=1e-12):
        raise GradcheckError("haar_waverec(haar_wavedec(x)) differs from x by "
                             f"{np.abs(restored - rows).max():.3g}")


def check_feedback(images: np.ndarray, labels: np.ndarray) -> None:
    from .. import models
    model = cast(models.create("feedback-cnn", image_size=16, widths=(2, 2, 2), hidden=4, context_dim=3),
                 np.float64)
    model.eval()  # T = steps_eval = 2 refinement steps
    names = ("adapters.0.weight", "context.weight", "alpha_logits")
    params = [model.adapters[0].weight, model.context.weight, model.alpha_logits]
    params[2].data = params[2].data + 0.3  # away from the initial 0: alpha = sigmoid(0.3)

    def loss(x, *weights):
        logits = functional_call(model, dict(zip(names, weights)), x)
        return models.training_loss(model, logits, labels)
    gradcheck(loss, Tensor(images.astype(np.float64)), *params)


def wrong_square(x):
    """x^2 with a backward that is 0.2% off: 2.004 x instead of 2 x (the control: must fail)."""
    (x,) = tensors("wrong_square", x)
    return record("wrong_square", x.data ** 2, (x,), lambda g: (2.004 * g * x.data,))


def check_control(rows: np.ndarray) -> None:
    try:
        gradcheck(wrong_square, Tensor(rows))
    except GradcheckError:
        return
    raise GradcheckError("gradcheck did not catch a backward that is 0.2% off")


def run(images: np.ndarray, labels: np.ndarray, say) -> list[dict]:
    """The four checks; each result is {name, what, ok, seconds, error}."""
    rows = image_rows(images)
    checks = [("FFT mixer", "rFFT, adaptive filter, modReLU, inverse rFFT; tokens and filter",
               check_fft_mixer, (rows,)),
              ("Haar wavelets", "3 levels along the tokens, analysis and synthesis", check_haar, (rows,)),
              ("feedback loop", "2 refinement steps of a feedback CNN: input, adapter, context, alpha",
               check_feedback, (images[:2], labels[:2])),
              ("control", "a backward 0.2% off is caught", check_control, (rows,))]
    results = []
    for name, what, check, args in checks:
        started = time.perf_counter()
        try:
            check(*args)
            ok, error = True, ""
        except GradcheckError as e:
            ok, error = False, str(e)
        results.append({"name": name, "what": what, "ok": ok, "seconds": time.perf_counter() - started,
                        "error": error})
        say(f"  {name:14s} {'ok' if ok else 'FAILED'}   {what}" + (f": {error}" if error else ""))
    return results
