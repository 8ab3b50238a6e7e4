"""Every registered model against a PyTorch twin (tests/torch_checks/torch_models.py) with the same weights.

The minifb model is built with its own initialisation, parameters that start constant (alpha
logits, norm weights) are moved off their initial values (a mix-up of two of them would otherwise
go unnoticed), the state dict is copied into the twin, and both run the same batch in evaluation
mode (dropout off; feedback models take steps_eval steps). Compared: the logits of every
refinement step, the training loss (minifb.models.training_loss against cross-entropy in
PyTorch) and every parameter's gradient.

Name mapping: the twins use minifb's attribute names, so state dict keys are identical (see
minifb.testing.torch_state_dict); models whose PyTorch twin names a part differently list
their renames in torch_models.TWINS.
"""
import numpy as np
import pytest
import torch

import minifb as mf
import minifb.models
from minifb.reference import move_constant_parameters
from minifb.testing import cast, torch_state_dict
import torch_models as T

CIFAR, AUDIO, SMALL_IMAGES = (2, 3, 32, 32), (2, 1, 40, 24), (2, 3, 16, 16)
# The CNNs with narrow layers in float64 (the full widths run in float32)
SMALL_CNN = {"widths": (8, 16, 16), "hidden": 32}
# The audio ResNet narrow (40 x 24 log-mels: 10 x 8 after the 4x3 pool), two blocks
SMALL_RESNET = {"width": 6, "blocks": 2, "hidden": 10}
# A small ViT: 16 patches + CLS = 17 tokens (odd: odd FFT and Haar lengths), 2 blocks
SMALL_VIT = {"image_size": 16, "patch": 4, "dim": 24, "depth": 2, "heads": 3, "mlp_ratio": 2}

# A small LRA classifier: 13 tokens (odd), 2 blocks, attention narrower than the model
SMALL_LRA = {"task": "listops", "max_length": 13, "dim": 16, "depth": 2, "heads": 2, "qkv_dim": 8, "mlp_dim": 32}
TOKENS = (2, 13)

# (model name, settings, input shape)
CASES = [
    ("cnn", SMALL_CNN, CIFAR),
    ("feedback-cnn", SMALL_CNN, CIFAR),
    ("feedback-cnn", {**SMALL_CNN, "mode": "all-stages", "alpha": "gated"}, CIFAR),
    ("feedback-cnn", {**SMALL_CNN, "mode": "all-stages", "alpha": 0.3, "steps_eval": 3, "step_loss": True}, CIFAR),
    ("feedback-cnn", {**SMALL_CNN, "alpha": "gated", "step_loss": True, "context_dim": 16, "image_size": 16},
     SMALL_IMAGES),
    ("vit", SMALL_VIT, SMALL_IMAGES),
    ("fftnet-vit", SMALL_VIT, SMALL_IMAGES),
    ("fftnet-vit-windowed", SMALL_VIT, SMALL_IMAGES),
    ("fftnet-vit-windowed", {**SMALL_VIT, "patch": 2, "window": 6}, SMALL_IMAGES),
    ("wavelet-vit", SMALL_VIT, SMALL_IMAGES),
    ("wavelet-vit", {**SMALL_VIT, "patch": 2, "levels": 4}, SMALL_IMAGES),
    ("hybrid-vit", SMALL_VIT, SMALL_IMAGES),
    ("feedback-vit", SMALL_VIT, SMALL_IMAGES),
    ("feedback-vit", {**SMALL_VIT, "mixer": "fft", "mode": "all-stages", "alpha": "gated", "step_loss": True},
     SMALL_IMAGES),
    ("audio-cnn", SMALL_CNN, AUDIO),
    ("feedback-audio-cnn", {**SMALL_CNN, "mode": "all-stages"}, AUDIO),
    ("lra-transformer", SMALL_LRA, TOKENS),
    ("lra-transformer", {**SMALL_LRA, "task": "pathfinder", "vocab_size": 16}, TOKENS),   # mean pool, sinusoids
    ("lra-fnet", {k: v for k, v in SMALL_LRA.items() if k != "qkv_dim"}, TOKENS),
    ("lra-fftnet", {k: v for k, v in SMALL_LRA.items() if k != "qkv_dim"}, TOKENS),
    ("lra-fftnet-windowed", {**{k: v for k, v in SMALL_LRA.items() if k != "qkv_dim"}, "window": 4}, TOKENS),
    ("feedback-cnn", {**SMALL_CNN, "mode": "all-stages", "detach": "context", "alpha_init": 0.9}, CIFAR),
    ("audio-resnet", SMALL_RESNET, AUDIO),
    ("feedback-audio-resnet", {**SMALL_RESNET, "mode": "all-stages", "alpha": "gated", "step_loss": True}, AUDIO),
]


def test_every_registered_model_has_a_twin_and_a_case():
    missing = sorted(set(mf.models.available()) - set(T.TWINS))
    untested = sorted(set(mf.models.available()) - {name for name, _, _ in CASES})
    assert not missing and not untested, f"models without a PyTorch twin: {missing}; without a case: {untested}"


def compare_model(check, name, settings, shape, dtype, training=False, seed=0, twin_dtype=None, **tolerances):
    """minifb in ``dtype`` against the twin in ``twin_dtype`` (default the same) on the same
    weights and batch; ``tolerances`` go to every ``check.close``."""
    twin_dtype = twin_dtype or dtype
    rng = np.random.default_rng(seed)
    model = mf.models.create(name, **settings)
    move_constant_parameters(model, rng)
    cast(model, dtype).to(check.device).train(training)
    twin, renames = T.twin(name, **settings)
    twin.to(device=check.torch_device, dtype=getattr(torch, twin_dtype)).train(training)
    twin.load_state_dict({k: torch.from_numpy(v.astype(twin_dtype) if v.dtype.kind == "f" else v)
                          for k, v in torch_state_dict(model, renames).items()})

    if name.startswith("lra-"):  # token ids
        x = rng.integers(0, model.vocab_size, shape)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    labels = rng.integers(0, model.num_classes, shape[0])
    logits = model(check.mf(x, requires_grad=False))
    loss = mf.models.training_loss(model, logits, labels)
    loss.backward()
    assert logits.dtype == dtype and loss.dtype == dtype, f"{name}: {logits.dtype} logits, {loss.dtype} loss"
    torch_logits = twin(check.torch(x.astype(twin_dtype) if x.dtype.kind == "f" else x, requires_grad=False))
    torch_labels = torch.tensor(labels, device=check.torch_device)
    if hasattr(twin, "loss"):  # feedback twins: the final logits, or the mean over steps with step_loss
        torch_loss = twin.loss(torch_labels)
    else:
        torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch_labels)
    torch_loss.backward()

    steps = len(model.step_logits)
    assert steps == len(twin.step_logits), f"{name}: {steps} steps in minifb, {len(twin.step_logits)} in PyTorch"
    for t, (a, e) in enumerate(zip(model.step_logits, twin.step_logits)):
        check.close(f"{name} logits of step {t}", a, e, **tolerances)
    check.close(f"{name} loss", loss, torch_loss, **tolerances)
    torch_params = dict(twin.named_parameters())
    mf_grads = torch_state_dict({k: p.grad for k, p in model.named_parameters()}, renames)
    assert sorted(mf_grads) == sorted(torch_params), f"{name}: parameter names differ"
    for key, grad in mf_grads.items():
        assert grad.dtype == dtype, f"{name}: gradient of {key} in {grad.dtype}"
        check.close(f"{name} grad of {key}", grad, torch_params[key].grad, **tolerances)


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in s.items())}" for n, s, _ in CASES])
def test_model_matches_torch_twin_float64(case, check):
    compare_model(check, *case, dtype="float64")


@pytest.mark.parametrize("name", ["cnn", "feedback-cnn"])
def test_full_size_float32_model_matches_the_float64_twin(name, check):
    """The CIFAR widths in float32 (the 8192-input Linear, 64-channel 3x3 convs) against the exact
    result: the twin in float64 on the same float32 weights and batch.

    Not against PyTorch in float32: on an H100, with TF32 off, PyTorch's worst logit was off the
    float64 result by 1.5e-4 of the largest logit, minifb's (CuPy) by 3e-8 of it: cuDNN picks its
    convolution algorithm by shape, and the fast ones for wide 3x3 convolutions (Winograd, FFT)
    trade precision for speed. Computed in float32, both libraries stay within ~4e-7 of each
    array's largest entry on the CPU; the tolerance, 1e-5 of it, still catches TF32 (~1e-4) and
    every real error. Element-wise it would be meaningless: logits and gradient entries near 0
    are differences of much larger terms."""
    settings = {"mode": "all-stages", "alpha": "gated"} if name.startswith("feedback") else {}
    compare_model(check, name, settings, CIFAR, "float32", twin_dtype="float64", rtol=1e-4, atol=1e-5,
                  scale_atol=True, check_dtype=False)


TRAINING_CASES = [("feedback-cnn", {**SMALL_CNN, "steps_train": 3, "steps_eval": 1, "step_loss": True}, CIFAR),
                  # batch norm on batch statistics, recomputed at every step; truncated gradients
                  ("feedback-audio-resnet", {**SMALL_RESNET, "mode": "all-stages", "step_loss": True,
                                             "detach": "steps"}, AUDIO),
                  ("feedback-vit", {**SMALL_VIT, "dropout": 0.0, "mixer": "fft-windowed", "window": 4,
                                    "steps_train": 1}, SMALL_IMAGES)]


@pytest.mark.parametrize("case", TRAINING_CASES, ids=[c[0] for c in TRAINING_CASES])
def test_training_mode_takes_steps_train(case, check):
    """In training mode (dropout 0 so that no random mask enters) a feedback model takes steps_train steps."""
    compare_model(check, *case, dtype="float64", training=True)
