"""Does minifb's CIFAR-10 CNN train like PyTorch's, step for step?

minifb's ``cnn`` (seed 0) and its PyTorch twin (tests/torch_checks/torch_models.py) start from the same
weights and see the same sequence of batches: one shuffle and one set of crops and flips, drawn
once with minifb's augmentation and handed as the same float32 arrays to both. Both use Adam
(lr 1e-3, PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay) and the mean
cross-entropy. Dropout is either off in both (``--dropout off``) or on in both with the same
mask (``--dropout same-mask``: the mask minifb draws is redrawn from the same generator state
and applied in the twin). A third network, the twin started from weights moved by one
rounding step (relative 2**-24 in float32, 2**-53 in float64), is the control: how far two runs drift apart from a difference
of rounding alone. If minifb-vs-PyTorch drifts like PyTorch-vs-PyTorch, the engine matches and
what remains between runs is chaos, that is the seed.

Every ``--every`` steps it prints the two losses and the relative distance of all parameters
||theta_minifb - theta_torch|| / ||theta_torch|| (and the control's), and at the end the test
accuracy of each on the 10,000 test images and how often minifb and PyTorch predict the same class.

Before training it checks the data pipeline against torchvision's semantics, rebuilt here from
first principles: normalisation constants (also measured on the training set), crops from a copy
zero-padded BEFORE normalisation (a padded pixel reads -mean/std), offsets uniform in 0..8 and
mirroring with probability 1/2; and that minifb's dropout scales kept units by 1/(1-p) in training.

    python experiments/torch_step_match.py --data-dir DIR [--steps 200] [--train-size 10000]

DIR holds cifar-10-batches-py/. Runs on the CPU in float32 (about 8 minutes on 2 cores for
200 steps). ``--dtype float64`` runs all of it in float64, where the two agree to ~1e-14 for many
steps, so a real difference (Adam, the loss, dropout, augmentation) would show at once instead
of hiding in the float32 drift.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import torch

import minifb as mf
import minifb.models
from minifb import backend
from minifb.autograd.dropout import dropout
from minifb.data import load_cifar10, normalize
from minifb.data.augment import cifar10_train_transform, random_crop_flip
from minifb.data.cifar10 import MEAN, STD
from minifb.optim import Adam
from minifb.testing import cast, torch_state_dict
from minifb.data.tasks import subset

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "torch_checks"))
import torch_models  # noqa: E402  (the PyTorch twins live beside the cross-check tests)

TORCHVISION_MEAN = (0.4914, 0.4822, 0.4465)  # the values of the common CIFAR-10 recipes
TORCHVISION_STD = (0.2470, 0.2435, 0.2616)
HIDDEN = 256  # width of the CNN's last hidden layer, where dropout acts


# ---- the data pipeline --------------------------------------------------------------------------

def torchvision_style_crop_flip(images_uint8, top, left, flip, padding=4):
    """The reference: torch pads the uint8 images with zeros, crops 32x32 at (top, left), then mirrors.
    Returns uint8 (N, H, W, C) and a mask of the padded pixels (N, H, W)."""
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2)  # NCHW as torchvision works
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    inside = torch.nn.functional.pad(torch.ones_like(x[:, :1]), (padding,) * 4)
    height, width = x.shape[2:]
    crops = padded[:, :, top:top + height, left:left + width]
    masks = inside[:, 0, top:top + height, left:left + width]
    if flip:
        crops, masks = torch.flip(crops, dims=[-1]), torch.flip(masks, dims=[-1])
    return crops.permute(0, 2, 3, 1).numpy(), masks.numpy() == 0


def check_pipeline(train_images, count=3000, seed=0):
    print("== data pipeline ==")
    print(f"MEAN {MEAN} (expected {TORCHVISION_MEAN}), STD {STD} (expected {TORCHVISION_STD}): "
          f"{'equal' if (MEAN, STD) == (TORCHVISION_MEAN, TORCHVISION_STD) else 'DIFFERENT'}")
    scaled = train_images.reshape(-1, 3).astype(np.float64) / 255
    print(f"measured on the {len(train_images)} training images: mean {np.round(scaled.mean(0), 4)}, "
          f"std {np.round(scaled.std(0), 4)}")

    images = train_images[:count]
    augmented = random_crop_flip(images, padding=4, rng=np.random.default_rng(seed))
    # Which of the 9 x 9 offsets and 2 flips did each image get? Found by matching against every
    # torchvision-style candidate, so nothing here depends on how minifb draws its numbers.
    candidates = [(top, left, flip) for top in range(9) for left in range(9) for flip in (False, True)]
    references = {c: torchvision_style_crop_flip(images, *c) for c in candidates}
    found, ambiguous, unmatched = [], 0, 0
    padded_mask = np.zeros(augmented.shape[:3], dtype=bool)
    for i in range(count):
        hits = [c for c in candidates if np.array_equal(references[c][0][i], augmented[i])]
        if not hits:
            unmatched += 1
            continue
        ambiguous += len(hits) > 1
        found.append(hits[0])
        padded_mask[i] = references[hits[0]][1][i]
    tops, lefts, flips = (np.array(v) for v in zip(*found))
    print(f"{count} crops: {unmatched} match no torchvision-style crop+flip, {ambiguous} match several")
    print(f"flipped: {flips.mean():.4f} (expected 0.5 +- {0.5 / np.sqrt(len(flips)):.4f})")
    print(f"top offsets 0..8, counts: {np.bincount(tops, minlength=9).tolist()}; "
          f"left: {np.bincount(lefts, minlength=9).tolist()} (uniform: {len(found) / 9:.0f} each)")

    normalised = normalize(augmented)  # float32 NCHW
    reference = (torch.from_numpy(augmented).double().permute(0, 3, 1, 2) / 255
                 - torch.tensor(TORCHVISION_MEAN, dtype=torch.float64)[:, None, None]) \
        / torch.tensor(TORCHVISION_STD, dtype=torch.float64)[:, None, None]
    print(f"normalize vs (x/255 - mean)/std in float64: max abs diff {np.abs(normalised - reference.numpy()).max():.2e}")
    padded = normalised.transpose(0, 2, 3, 1)[padded_mask]  # (pixels, 3)
    expected = -np.array(TORCHVISION_MEAN) / np.array(TORCHVISION_STD)
    print(f"{len(padded)} padded pixels: max |value - (-mean/std)| = {np.abs(padded - expected).max():.2e} "
          f"(-mean/std = {np.round(expected, 4).tolist()})")


def check_dropout_scaling(p=0.5, size=1_000_000):
    """minifb's dropout in training: kept units are exactly x/(1-p), about a fraction p are zero."""
    backend.seed(0)
    y = dropout(mf.tensor(np.ones(size, np.float32)), p=p, training=True).data
    kept = y[y != 0]
    print(f"== dropout p={p} in training: kept values {np.unique(kept).tolist()} (expected [{1 / (1 - p)}]), "
          f"zeroed {1 - len(kept) / size:.4f}, mean {y.mean():.4f} (expected 1); "
          f"evaluation is the identity: {np.array_equal(dropout(mf.tensor(y), p=p, training=False).data, y)}")


# ---- the two trainings ----------------------------------------------------------------------------

class FixedMask(torch.nn.Module):
    """Dropout with a given mask (already scaled by 1/(1-p)), so the twin drops what minifb drops."""

    def __init__(self):
        super().__init__()
        self.mask = None

    def forward(self, x):
        return x * self.mask if self.training else x


def twin_of(model, perturb=0.0, rng=None):
    dtype = next(iter(model.parameters())).data.dtype
    twin = torch_models.TorchCNN().to(getattr(torch, dtype.name))
    state = torch_state_dict(model)
    if perturb:  # each weight moved by about one rounding step, the sign at random
        state = {k: (v * (1 + perturb * rng.choice([-1, 1], v.shape))).astype(dtype) for k, v in state.items()}
    twin.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    twin.head[0] = FixedMask()
    return twin


def relative_distance(model, twin):
    """||theta_minifb - theta_twin|| / ||theta_twin|| over all parameters together, in float64."""
    ours = torch_state_dict(model)
    theirs = {k: v.detach().double().numpy() for k, v in twin.state_dict().items()}
    diff = sum(np.sum((ours[k].astype(np.float64) - theirs[k]) ** 2) for k in theirs)
    return float(np.sqrt(diff / sum(np.sum(v ** 2) for v in theirs.values())))


def twin_distance(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    diff = sum(float(((sa[k].double() - sb[k].double()) ** 2).sum()) for k in sb)
    return float(np.sqrt(diff / sum(float((v.double() ** 2).sum()) for v in sb.values())))


def gradient_agreement(model, twin):
    """(||g_minifb - g_torch|| / ||g_torch|| over all gradients, how many entries differ in sign).

    Adam's first step moves each weight by about lr sign(g) wherever |g| >> eps, so an entry whose
    gradient is rounding noise around 0, with different signs in two libraries, ends up 2 lr apart."""
    ours = torch_state_dict({k: p.grad for k, p in model.named_parameters()})
    theirs = {k: p.grad.double().numpy() for k, p in twin.named_parameters()}
    diff = sum(np.sum((ours[k].astype(np.float64) - theirs[k]) ** 2) for k in theirs)
    norm = sum(np.sum(v ** 2) for v in theirs.values())
    signs = sum(int(np.sum(np.sign(ours[k]) != np.sign(theirs[k]))) for k in theirs)
    return float(np.sqrt(diff / norm)), signs


def accuracy(predict, images, labels, dtype, batch=1000):
    predictions = np.concatenate([predict(normalize(images[i:i + batch], dtype=dtype))
                                  for i in range(0, len(labels), batch)])
    return float((predictions == labels).mean()), predictions


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="folder holding cifar-10-batches-py/")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=10_000, help="a fixed subset of the training set")
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--dropout", choices=("off", "same-mask"), default="off")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="float64: the two should agree far longer, which separates real differences from rounding")
    parser.add_argument("--no-control", action="store_true", help="skip the perturbed PyTorch run")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    train_images, train_labels = load_cifar10(args.data_dir, train=True)
    test_images, test_labels = load_cifar10(args.data_dir, train=False)
    if not args.skip_pipeline:
        check_pipeline(train_images)
        check_dropout_scaling()

    backend.seed(0)
    model = cast(mf.models.create("cnn"), args.dtype)
    twin = twin_of(model)
    twins = {"torch": twin}
    if not args.no_control:
        twins["control"] = twin_of(model, perturb=np.finfo(args.dtype).eps / 2, rng=np.random.default_rng(1))
    print(f"== training: {args.steps} steps, batch {args.batch_size}, {args.train_size} training images, "
          f"dropout {args.dropout}, {args.dtype}; start: |minifb - torch| {relative_distance(model, twin):.1e}, "
          + (f"|control - torch| {twin_distance(twins['control'], twin):.1e}" if "control" in twins else ""))
    optimizer = Adam(model.parameters(), lr=1e-3)
    torch_optimizers = {k: torch.optim.Adam(t.parameters(), lr=1e-3) for k, t in twins.items()}
    training = args.dropout == "same-mask"
    model.train(training)
    for t in twins.values():
        t.train(training)

    index = subset(len(train_labels), args.train_size)
    images, labels = train_images[index], train_labels[index]
    epoch = 0
    order, rng, position = [], None, 0
    print(f"{'step':>5} {'loss minifb':>12} {'loss torch':>12} {'|diff|':>9} {'params |mf-torch|':>18} "
          f"{'loss control':>12} {'|control-torch|':>16} {'s/step':>7}")
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        if position + args.batch_size > len(order):  # a new epoch: the shuffle of minifb.train
            epoch += 1
            rng = np.random.default_rng([0, epoch])
            order, position = rng.permutation(len(labels)), 0
        batch = order[position:position + args.batch_size]
        position += args.batch_size
        x, y = cifar10_train_transform((images[batch], labels[batch]), rng)
        x = x.astype(args.dtype)
        if training:  # the mask minifb's dropout will draw, drawn here first from the same state
            backend.seed(step)
            mask = (backend.generator().random((len(y), HIDDEN), dtype=args.dtype) >= 0.5).astype(args.dtype) * 2
            for t in twins.values():
                t.head[0].mask = torch.from_numpy(mask)
            backend.seed(step)
        loss = mf.models.training_loss(model, model(mf.tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        torch_losses = {}
        for key, t in twins.items():
            torch_loss = torch.nn.functional.cross_entropy(t(torch.from_numpy(x)), torch.from_numpy(y))
            torch_optimizers[key].zero_grad()
            torch_loss.backward()
            if key == "torch" and step in (1, 2):
                relative, signs = gradient_agreement(model, t)
                print(f"step {step} gradients: |g_minifb - g_torch| / |g_torch| = {relative:.2e}, "
                      f"{signs} of {sum(p.numel() for p in t.parameters())} entries differ in sign")
            torch_optimizers[key].step()
            torch_losses[key] = torch_loss.item()
        if step % args.every == 0 or step == 1:
            control = (f"{torch_losses['control']:12.6f} {twin_distance(twins['control'], twin):16.2e}"
                       if "control" in twins else "")
            print(f"{step:5d} {float(loss.data):12.6f} {torch_losses['torch']:12.6f} "
                  f"{abs(float(loss.data) - torch_losses['torch']):9.2e} {relative_distance(model, twin):18.2e} "
                  f"{control} {(time.perf_counter() - start) / step:7.2f}", flush=True)

    model.eval()
    for t in twins.values():
        t.eval()
    with mf.no_grad():
        ours, our_predictions = accuracy(lambda x: model(mf.tensor(x)).data.argmax(1), test_images, test_labels,
                                           args.dtype)
    print("== test accuracy on the 10,000 test images ==")
    print(f"minifb  {100 * ours:.2f} %")
    predictions = {}
    with torch.no_grad():
        for key, t in twins.items():
            theirs, predictions[key] = accuracy(lambda x: t(torch.from_numpy(x)).argmax(1).numpy(),
                                                test_images, test_labels, args.dtype)
            print(f"{key:7s} {100 * theirs:.2f} %  (same prediction as minifb on "
                  f"{100 * (predictions[key] == our_predictions).mean():.2f} % of the images)")
    if "control" in predictions:  # the agreement that rounding alone leaves
        print(f"control and torch predict the same class on "
              f"{100 * (predictions['control'] == predictions['torch']).mean():.2f} % of the images")


if __name__ == "__main__":
    main()
