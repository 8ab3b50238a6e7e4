"""The model registry: every model builds, counts, validates its input and learns a small batch."""
import math

import numpy as np
import pytest

import minifb as mf
from minifb import models
from minifb.autograd import gradcheck
from minifb.layers import functional_call
from minifb.optim import Adam
from minifb.testing import cast

CIFAR = (3, 32, 32)
AUDIO = (1, 40, 101)

# Small settings of each registered model, so that fitting a batch on the CPU takes a moment.
TINY = {
    "cnn": dict(image_size=8, widths=(4, 8, 8), hidden=16, dropout=0.0),
    "feedback-cnn": dict(image_size=8, widths=(4, 8, 8), hidden=16, context_dim=8),
    "audio-cnn": dict(widths=(4, 8, 8), hidden=16, dropout=0.0),
    "feedback-audio-cnn": dict(widths=(4, 8, 8), hidden=16, context_dim=8, step_loss=True),
    "audio-resnet": dict(width=8, blocks=1, pool=(2, 2), hidden=16, dropout=0.0),
    "feedback-audio-resnet": dict(width=8, blocks=1, pool=(2, 2), hidden=16, context_dim=8, step_loss=True),
    "vit": dict(image_size=8, patch=2, dim=16, depth=1, heads=2, mlp_ratio=2, dropout=0.0),
    "fftnet-vit": dict(image_size=8, patch=2, dim=16, depth=1, heads=2, mlp_ratio=2, dropout=0.0),
    "fftnet-vit-windowed": dict(image_size=8, patch=2, dim=16, depth=1, heads=2, mlp_ratio=2, dropout=0.0, window=4),
    "wavelet-vit": dict(image_size=8, patch=2, dim=16, depth=1, heads=2, mlp_ratio=2, dropout=0.0, levels=2),
    "hybrid-vit": dict(image_size=8, patch=2, dim=16, depth=1, heads=2, mlp_ratio=2, dropout=0.0, levels=2),
    "feedback-vit": dict(image_size=8, patch=2, dim=16, depth=2, heads=2, mlp_ratio=2, dropout=0.0, context_dim=8),
}
LRA_TINY = dict(task="listops", max_length=12, dim=16, depth=1, heads=2, mlp_dim=16, dropout=0.0, attention_dropout=0.0)
TINY.update({
    "lra-transformer": dict(LRA_TINY, qkv_dim=8),
    "lra-fnet": dict(LRA_TINY, pooling="mean", positions="sinusoidal"),
    "lra-fftnet": dict(LRA_TINY),
    "lra-fftnet-windowed": dict(LRA_TINY, window=4),
})
TINY_INPUT = {"cnn": (3, 8, 8), "audio": (1, 8, 12), "vit": (3, 8, 8)}


def tiny_input_shape(name):
    return TINY_INPUT["audio" if "audio" in name else "vit" if "vit" in name else "cnn"]


def tiny_input(name, batch, device, rng):
    """A batch for the tiny model ``name``: images or spectrograms, or token ids for the lra-* models."""
    if name.startswith("lra-"):
        return mf.backend.xp_for(device).asarray(rng.integers(0, 16, (batch, TINY[name]["max_length"])))
    return mf.tensor(rng.standard_normal((batch,) + tiny_input_shape(name)).astype(np.float32), device=device)


def test_every_model_is_registered():
    assert set(models.available()) == {"cnn", "feedback-cnn", "vit", "fftnet-vit", "fftnet-vit-windowed", "wavelet-vit",
                                       "hybrid-vit", "feedback-vit", "audio-cnn", "feedback-audio-cnn",
                                       "lra-transformer", "lra-fnet", "lra-fftnet", "lra-fftnet-windowed",
                                       "audio-resnet", "feedback-audio-resnet"}
    assert set(TINY) == set(models.available())


def test_unknown_names_and_settings_are_rejected():
    with pytest.raises(KeyError, match="unknown model 'resnet'"):
        models.create("resnet")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['steps'\]"):
        models.create("feedback-cnn", steps=3)
    with pytest.raises(ValueError, match="unknown setting"):
        models.create("cnn", mode="head-only")  # feedback settings belong to feedback models


def test_cnn_parameters_and_macs_follow_the_architecture():
    model = models.create("cnn")
    convs = [(3, 32), (32, 64), (64, 128)]
    expected = sum(cout * cin * 9 + cout for cin, cout in convs) + 8192 * 256 + 256 + 256 * 10 + 10
    assert models.count_parameters(model) == expected == 2_193_226
    conv_macs = 32 * 32 * 32 * 27 + 64 * 32 * 32 * 32 * 9 + 128 * 16 * 16 * 64 * 9
    assert models.count_flops(model, (1,) + CIFAR) == conv_macs + 8192 * 256 + 256 * 10
    assert models.count_flops(model, (2,) + CIFAR) == 2 * (conv_macs + 8192 * 256 + 256 * 10)


def test_feedback_macs_count_every_step():
    plain = models.count_flops(models.create("cnn"), (1,) + CIFAR)
    one = models.count_flops(models.create("feedback-cnn", steps_eval=1), (1,) + CIFAR)
    three = models.count_flops(models.create("feedback-cnn", steps_eval=3), (1,) + CIFAR)
    # one head-only step: context Linear 10x64, adapter 256 x (256 + 64), the head again 256x10
    step = 10 * 64 + 256 * (256 + 64) + 256 * 10
    assert one == plain + step and three == plain + 3 * step


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_model_fits_a_small_batch(device, name):
    mf.seed(0)
    model = models.create(name, num_classes=4, **TINY[name]).to(device)
    rng = np.random.default_rng(0)
    x = tiny_input(name, 8, device, rng)
    labels = mf.backend.xp_for(device).asarray(rng.integers(0, 4, size=8))
    optimizer = Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        logits = model(x)
        assert logits.shape == (8, 4) and logits.dtype == np.float32
        loss = models.training_loss(model, logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 < losses[0]
    model.eval()
    with mf.no_grad():
        accuracy = float((mf.asnumpy(model(x).data).argmax(1) == mf.asnumpy(labels)).mean())
    assert accuracy == 1.0


def test_vit_parameters_follow_the_architecture():
    d, r, tokens = 192, 3, 65
    block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * r * d + r * d) + (r * d * d + d)
    embedding = 48 * d + d + d + tokens * d          # patch Linear, CLS, positions
    head = 2 * d + d * 10 + 10
    assert models.count_parameters(models.create("vit")) == embedding + 6 * block + head == 2_250_058


def test_vit_macs_count_attention_products():
    model = models.create("vit", depth=1)
    linear = 65 * (192 * 576 + 192 * 192 + 2 * 192 * 576) + 64 * 48 * 192 + 192 * 10
    assert models.count_flops(model, (1,) + CIFAR) == linear + 2 * 65 * 65 * 192


def test_patch_embedding_is_a_strided_convolution(device):
    """The reshape + Linear patch embedding equals conv2d with kernel and stride = patch."""
    vit = models.create("vit", image_size=8, patch=4, dim=6, depth=1, heads=2, dropout=0.0).to(device)
    x = mf.tensor(np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32), device=device)
    embed = vit.stem
    weight = embed.proj.weight.reshape(6, 3, 4, 4)
    conv = mf.conv2d(x, weight, embed.proj.bias, stride=4).reshape(2, 6, 4).transpose(0, 2, 1)   # (B, patches, D)
    tokens = embed(x)
    assert tokens.shape == (2, 5, 6)
    np.testing.assert_allclose(mf.asnumpy(tokens[:, 1:]), mf.asnumpy(conv + embed.pos_embedding[:, 1:]), rtol=1e-5, atol=1e-6)
    cls = mf.asnumpy(embed.cls_token[0] + embed.pos_embedding[:, 0])  # (1, D), the same for every image
    np.testing.assert_allclose(mf.asnumpy(tokens[:, 0]), np.broadcast_to(cls, (2, 6)))


def test_vit_embeddings_are_truncated_normal_with_std_002():
    vit = models.create("vit")
    values = np.concatenate([vit.stem.pos_embedding.numpy().ravel(), vit.stem.cls_token.numpy().ravel()])
    assert np.abs(values).max() <= 0.04 and 0.015 < values.std() < 0.02


@pytest.mark.parametrize("mode", ["head-only", "all-stages"])
def test_feedback_vit_with_alpha_one_is_the_vit(device, mode):
    config = dict(image_size=8, patch=4, dim=8, depth=2, heads=2)
    plain = models.create("fftnet-vit", **config).to(device).eval()
    model = models.create("feedback-vit", **config, mixer="fft", mode=mode, alpha=1.0, steps_eval=2).to(device).eval()
    model.network.load_state_dict(plain.state_dict())
    x = mf.tensor(np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32), device=device)
    np.testing.assert_array_equal(mf.asnumpy(model(x)), mf.asnumpy(plain(x)))
    assert len(model.step_logits) == 3


def test_settings_list_every_default_and_create_builds_exactly_them():
    for name in models.available():
        defaults = models.settings(name)
        assert all(not isinstance(v, tuple) for v in defaults.values())  # JSON values: tuples as lists
        built, again = models.create(name), models.create(name, **defaults)
        assert built.state_dict().keys() == again.state_dict().keys() and repr(built) == repr(again)
    assert models.settings("cnn") == {"num_classes": 10, "in_channels": 3, "image_size": 32,
                                      "widths": [32, 64, 128], "hidden": 256, "dropout": 0.5}
    assert models.settings("fftnet-vit-windowed")["window"] == 16 and models.settings("wavelet-vit")["levels"] == 3
    assert "window" not in models.settings("fftnet-vit") and "mixer" not in models.settings("vit")
    assert models.settings("feedback-cnn")["alpha"] == "learnable"
    assert models.effective_settings("vit", depth=2)["depth"] == 2
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['deep'\]"):
        models.effective_settings("vit", deep=2)


@pytest.mark.parametrize("mixer", ["fft", "attention"])
def test_post_norm_block_is_x_plus_ln_of_x_plus_mix(device, mixer):
    """mixer_norm='post': x + LN(x + Mix(x)), then x + MLP(LN(x)); gradients through both branches."""
    name = "fftnet-vit" if mixer == "fft" else "vit"
    vit = cast(models.create(name, image_size=8, patch=4, dim=6, depth=1, heads=2, dropout=0.0, mixer_norm="post"),
               np.float64).to(device).eval()
    block = vit.stages[0]
    x = mf.tensor(np.random.default_rng(4).standard_normal((2, 5, 6)), device=device)
    mixed = x + block.norm1(x + block.mixer(x))
    np.testing.assert_allclose(mf.asnumpy(block(x).data), mf.asnumpy((mixed + block.mlp(block.norm2(mixed))).data),
                               rtol=1e-12)
    names = [n for n, _ in block.named_parameters()]
    params = [p for _, p in block.named_parameters()]
    gradcheck(lambda t, *w: functional_call(block, dict(zip(names, w)), t), x, *params, directions=2, max_full=30)
    with pytest.raises(ValueError, match="EncoderBlock: mixer_norm must be one of"):
        models.create(name, mixer_norm="sandwich")


def test_mixer_options_belong_to_their_mixers():
    # A model whose name fixes the mixer does not list the other mixers' options at all...
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['window'\]"):
        models.create("vit", window=8)
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['levels'\]"):
        models.create("fftnet-vit", levels=2)
    # ...and one that takes the mixer as a setting checks that they go together.
    with pytest.raises(ValueError, match="window=8 applies to the 'fft-windowed' mixer only"):
        models.create("feedback-vit", window=8)
    with pytest.raises(ValueError, match="levels=2 applies to the 'wavelet' and 'hybrid' mixers only"):
        models.create("feedback-vit", mixer="fft", levels=2)
    with pytest.raises(ValueError, match="unknown setting"):
        models.create("fftnet-vit", mixer="attention")  # the name fixes the mixer
    with pytest.raises(ValueError, match=r"ViT: expected images of shape \(N, 3, 32, 32\)"):
        models.create("vit")(mf.tensor(np.zeros((1, 3, 28, 28), np.float32)))


@pytest.mark.parametrize("name", sorted(TINY))
def test_full_configurations_run_forward(name):
    """The full CIFAR-10 / Speech Commands configurations: logits of the right shape, float32, finite."""
    if name.startswith("lra-"):  # LRA Image's full size (ListOps' 2,000 tokens and width 512 take longer)
        model = models.create(name, task="image").eval()
        x = np.random.default_rng(0).integers(0, 256, (2, 1024))
    else:
        model = models.create(name).eval()
        shape = AUDIO if "audio" in name else CIFAR
        x = mf.tensor(np.random.default_rng(0).standard_normal((2,) + shape).astype(np.float32))
    with mf.no_grad():
        logits = model(x)
    assert logits.shape == (2, 12 if "audio" in name else 10) and logits.dtype == np.float32
    assert np.isfinite(mf.asnumpy(logits)).all()
    assert models.count_parameters(model) > 0


def test_count_flops_leaves_the_model_as_it_was():
    model = models.create("fftnet-vit-windowed", image_size=8, patch=2, dim=8, depth=1, heads=2, window=4)
    model.train()
    before = model.stages[0].mixer.forward
    assert models.count_flops(model, (1, 3, 8, 8)) > 0
    assert model.training and "forward" not in model.stages[0].mixer.__dict__
    assert model.stages[0].mixer.forward == before


def test_fftnet_macs_count_the_transforms_and_the_modulation():
    model = models.create("fftnet-vit", depth=1)
    linear = 65 * (2 * 192 * 576) + 64 * 48 * 192 + 192 * 10      # block MLP, patch embedding, head
    modulation = 192 * 192 + 192 * 6 * 33                           # context MLP D -> D -> H F
    transforms = 2 * 192 * 65 * math.log2(65)                       # rFFT and inverse per channel
    assert models.count_flops(model, (1,) + CIFAR) == linear + modulation + round(transforms)


def test_lra_transformer_parameters_follow_lras_image_configuration():
    """LRA Image: vocabulary 256, D 128, 1 block, 8 heads of Q/K/V width 64 in all, MLP 128, CLS, learned positions."""
    d, e, mlp, tokens = 128, 64, 128, 1025
    block = 2 * 2 * d + (d * 3 * e + 3 * e) + (e * d + d) + (d * mlp + mlp) + (mlp * d + d)
    embedding = 256 * d + d + tokens * d                 # tokens, CLS, positions
    head = 2 * d + (d * mlp + mlp) + (mlp * 10 + 10)     # final LayerNorm, Linear-ReLU-Linear
    model = models.create("lra-transformer", task="image")
    assert models.count_parameters(model) == embedding + block + head == 248_778
    assert models.count_parameters(models.create("lra-fnet", task="image")) == embedding + block + head - (
        d * 3 * e + 3 * e + e * d + d)                  # FNet: the same without attention's projections


def test_lra_fnet_macs_count_the_2d_transform():
    """Per block: a complex FFT of D points for each of the N tokens and of N points for each
    channel (2 n log2 n each), and the MLP; then the head. The embedding is a lookup, not counted."""
    model = models.create("lra-fnet", task="image")
    n, d = 1025, 128
    fft = 2 * (round(n * d * math.log2(d)) + round(d * n * math.log2(n)))
    assert models.count_flops(model, (1, 1024)) == fft + n * 2 * d * 128 + d * 128 + 128 * 10
    attention = models.create("lra-transformer", task="image")
    linear = n * (d * 3 * 64 + 64 * d + 2 * d * 128) + d * 128 + 128 * 10
    assert models.count_flops(attention, (1, 1024)) == linear + 2 * n * n * 64


def test_lra_classifier_settings_and_input_are_checked():
    model = models.create("lra-fftnet", **TINY["lra-fftnet"])
    with pytest.raises(ValueError, match=r"SequenceClassifier: expected token ids of shape \(B, 12\), got \(2, 13\)"):
        model(np.zeros((2, 13), np.int64))
    with pytest.raises(TypeError, match="Embedding: indices must be integers"):
        model(np.zeros((2, 12), np.float32))
    with pytest.raises(ValueError, match="unknown task 'path-x'"):
        models.create("lra-fnet", task="path-x")
    with pytest.raises(ValueError, match="pooling must be one of"):
        models.create("lra-fnet", task="image", pooling="max")
    with pytest.raises(ValueError, match="qkv_dim=8 applies to the 'attention' mixer only"):
        models.create("lra-fftnet", task="image", qkv_dim=8)


def test_lra_classifier_takes_token_arrays_and_tensors(device):
    model = models.create("lra-fnet", **TINY["lra-fnet"]).to(device).eval()
    tokens = mf.backend.xp_for(device).asarray(np.random.default_rng(1).integers(0, 16, (3, 12)).astype(np.uint8))
    with mf.no_grad():
        from_array, from_tensor = model(tokens), model(mf.Tensor(tokens, device=device))
    np.testing.assert_array_equal(mf.asnumpy(from_array), mf.asnumpy(from_tensor))
    assert from_array.shape == (3, 10)   # ListOps: 10 classes


def test_lra_sinusoids_are_vaswanis():
    from minifb.layers.sequence_classifier import sinusoidal_positions
    table = sinusoidal_positions(50, 6)[0]
    t = 7
    expected = [math.sin(t), math.cos(t), math.sin(t / 10000 ** (2 / 6)), math.cos(t / 10000 ** (2 / 6)),
                math.sin(t / 10000 ** (4 / 6)), math.cos(t / 10000 ** (4 / 6))]
    np.testing.assert_allclose(table[t], expected, rtol=1e-6, atol=1e-6)
    model = models.create("lra-fnet", task="pathfinder")
    assert model.pooling == "mean" and model.pos_embedding is None and model.sinusoids.shape == (1, 1024, 32)
