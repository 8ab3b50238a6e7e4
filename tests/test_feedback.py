"""Contextual feedback loops: gradients through every step, limit cases, diagnostics, the adapter."""
import numpy as np
import pytest

import minifb as mf
from minifb.autograd import gradcheck
from minifb.layers import functional_call
from minifb.layers.audio_cnn import AudioCNN, FeedbackAudioCNN
from minifb.layers.cnn import CNN, FeedbackCNN
from minifb.layers.feedback import ContextAdapter, ContextualFeedback
from minifb.testing import cast

TINY_CNN = dict(num_classes=3, image_size=4, widths=(2, 3, 2), hidden=4)


def tiny_feedback_cnn(device, **feedback):
    return cast(FeedbackCNN(**TINY_CNN, context_dim=3, **feedback), np.float64).to(device)


def images(device, n=2, shape=(3, 4, 4), seed=1):
    data = np.random.default_rng(seed).standard_normal((n,) + shape)
    return mf.tensor(data, dtype=np.float64, device=device)


@pytest.mark.parametrize("mode", ["head-only", "all-stages"])
@pytest.mark.parametrize("alpha", ["learnable", "raw", "gated", 0.3])
def test_gradients_through_three_steps(device, mode, alpha):
    model = tiny_feedback_cnn(device, mode=mode, alpha=alpha, steps_train=3, steps_eval=3)
    names = [name for name, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]

    def logits(x, *weights):
        return functional_call(model, dict(zip(names, weights)), x)
    gradcheck(logits, images(device), *params, directions=2, max_full=40)
    assert len(model.step_logits) == 4


def test_raw_alpha_is_alpha_itself_from_zero(device):
    """alpha='raw': h <- a h + (1 - a) psi(h, z) with a the trained scalar itself, starting at 0 (so the
    first steps replace h by the adapter's proposal), unbounded; one per refined stage."""
    model = tiny_feedback_cnn(device, mode="all-stages", alpha="raw")
    assert model.alphas.shape == (4,) and not np.any(mf.asnumpy(model.alphas.data))
    assert not hasattr(model, "alpha_logits")
    head_only = tiny_feedback_cnn(device, alpha="raw", steps_eval=1).eval()
    x = images(device)
    head_only.alphas.data = head_only.alphas.data + 1.7  # outside [0, 1]: used as it is
    y = head_only(x)
    net = head_only.network
    h = net.stages[3](net.stages[2](net.stages[1](net.stages[0](x))))
    z = head_only.context(net.head(h))
    expected = net.head(1.7 * h + (1 - 1.7) * head_only.adapters[0](h, z))
    np.testing.assert_allclose(mf.asnumpy(y.data), mf.asnumpy(expected.data), rtol=1e-12)


@pytest.mark.parametrize("mode", ["head-only", "all-stages"])
def test_alpha_one_gives_the_plain_network(device, mode):
    plain = CNN(**TINY_CNN, dropout=0.5).to(device).eval()
    model = FeedbackCNN(**TINY_CNN, mode=mode, alpha=1.0, steps_eval=3).to(device).eval()
    model.network.load_state_dict(plain.state_dict())
    x = images(device, n=4).astype(np.float32)
    y = model(x)
    assert len(model.step_logits) == 4
    np.testing.assert_array_equal(mf.asnumpy(y), mf.asnumpy(plain(x)))
    assert model.diagnostics()["rel_change_3"] == 0.0


@pytest.mark.parametrize("mode", ["head-only", "all-stages"])
def test_zero_steps_give_the_plain_network(device, mode):
    plain = CNN(**TINY_CNN).to(device).eval()
    model = FeedbackCNN(**TINY_CNN, mode=mode, steps_train=0, steps_eval=0).to(device)
    model.network.load_state_dict(plain.state_dict())
    x = images(device).astype(np.float32)
    for training in (True, False):
        model.train(training)
        np.testing.assert_array_equal(mf.asnumpy(model(x)), mf.asnumpy(plain(x)))
        assert len(model.step_logits) == 1 and model.diagnostics() == {}


def test_learnable_alpha_starts_at_an_even_blend(device):
    """alpha = sigmoid(0) = 1/2 at initialisation: one head-only step is head((h + psi(h, z)) / 2)."""
    model = tiny_feedback_cnn(device, mode="head-only", steps_eval=1).eval()
    x = images(device)
    y = model(x)
    net = model.network
    h = x
    for stage in net.stages:
        h = stage(h)
    y0 = net.head(h)
    expected = net.head(0.5 * h + 0.5 * model.adapters[0](h, model.context(y0)))
    np.testing.assert_allclose(mf.asnumpy(y), mf.asnumpy(expected), rtol=1e-12)


@pytest.mark.parametrize("mode", ["head-only", "all-stages"])
def test_alpha_init_sets_where_alpha_starts(device, mode):
    """A learnable alpha starts at alpha_init exactly; a gate's bias is shifted by logit(alpha_init),
    so with zero gate weights the gate starts at alpha_init too, and h <- 0.9 h + 0.1 psi(h, z)."""
    model = tiny_feedback_cnn(device, mode=mode, alpha="learnable", alpha_init=0.9)
    np.testing.assert_allclose(1 / (1 + np.exp(-mf.asnumpy(model.alpha_logits.data))), 0.9, rtol=1e-6)
    mf.seed(0)
    even = tiny_feedback_cnn(device, mode=mode, alpha="gated", steps_eval=1).eval()
    mf.seed(0)
    shifted = tiny_feedback_cnn(device, mode=mode, alpha="gated", alpha_init=0.9, steps_eval=1).eval()
    logit = np.log(0.9 / 0.1)
    for a, b in zip(even.gates, shifted.gates):
        np.testing.assert_allclose(mf.asnumpy(b.bias.data), mf.asnumpy(a.bias.data) + logit, rtol=1e-6)  # float32
        b.weight.data[...] = 0
        b.bias.data[...] = logit
    x = images(device)
    y = shifted(x)
    if mode == "head-only":
        net = shifted.network
        h = x
        for stage in net.stages:
            h = stage(h)
        expected = net.head(0.9 * h + 0.1 * shifted.adapters[0](h, shifted.context(net.head(h))))
        np.testing.assert_allclose(mf.asnumpy(y), mf.asnumpy(expected), rtol=1e-12)


def feedback_gradients(device, detach, steps=1, step_loss=False, mode="head-only"):
    """{parameter name: gradient} of the training loss of a tiny feedback CNN on a fixed batch."""
    from minifb.models import training_loss
    mf.seed(0)
    model = tiny_feedback_cnn(device, mode=mode, steps_train=steps, step_loss=step_loss, detach=detach)
    loss = training_loss(model, model(images(device)), np.array([0, 2]))
    loss.backward()
    # A parameter that no path of the loss reaches keeps grad None: a zero gradient.
    return {name: np.zeros(p.shape) if p.grad is None else mf.asnumpy(p.grad)
            for name, p in model.named_parameters()}, [
        mf.asnumpy(y.data) for y in model.step_logits]


@pytest.mark.parametrize("mode", ["head-only", "all-stages"])
def test_detach_changes_gradients_not_values(device, mode):
    """Detaching leaves every step's logits as they were. With T = 1 the adapters and the context
    map g act only after y_0, so their gradients are the full ones under every setting; the
    trunk's gradient loses the path through the context ('context') or, in head-only mode, all
    of the refined step's contribution ('steps': only y_0 would train it, and the loss is on y_1)."""
    full, logits = feedback_gradients(device, "none", mode=mode)
    for detach in ("context", "steps"):
        grads, same_logits = feedback_gradients(device, detach, mode=mode)
        for a, b in zip(logits, same_logits):
            np.testing.assert_array_equal(a, b)
        for name in full:
            if name.startswith(("adapters.", "context.", "alpha_logits")):
                np.testing.assert_allclose(grads[name], full[name], rtol=1e-12, atol=1e-15)
        trunk = [name for name in full if name.startswith("network.stages.0.")]
        assert any(not np.allclose(grads[name], full[name]) for name in trunk), detach
    steps, _ = feedback_gradients(device, "steps", mode=mode)
    if mode == "head-only":
        assert all(not steps[name].any() for name in full if name.startswith("network.stages."))
    # With the loss on every step, 'steps' gives each step's loss the trunk through y_0 alone.
    with_y0, _ = feedback_gradients(device, "steps", step_loss=True, steps=2, mode=mode)
    assert all(np.isfinite(g).all() for g in with_y0.values())
    assert any(with_y0[name].any() for name in full if name.startswith("network.stages.0."))


def test_steps_follow_the_mode(device):
    model = tiny_feedback_cnn(device, steps_train=3, steps_eval=1)
    x = images(device)
    model.train()
    model(x)
    assert len(model.step_logits) == 4
    model.eval()
    model(x)
    assert len(model.step_logits) == 2


def test_adapter_is_a_1x1_convolution_of_h_and_broadcast_z(device):
    """psi on feature maps against conv2d of the explicit concatenation [h; z broadcast]."""
    adapter = cast(ContextAdapter(channels=3, context_dim=2, channel_axis=1), np.float64).to(device)
    rng = np.random.default_rng(3)
    h = mf.tensor(rng.standard_normal((2, 3, 4, 5)), device=device)
    z = mf.tensor(rng.standard_normal((2, 2)), device=device)
    z_map = mf.expand(z.reshape(2, 2, 1, 1), (2, 2, 4, 5))
    weight = adapter.weight.reshape(3, 5, 1, 1)
    expected = mf.relu(mf.conv2d(mf.concatenate([h, z_map], axis=1), weight, adapter.bias))
    np.testing.assert_allclose(mf.asnumpy(adapter(h, z)), mf.asnumpy(expected), rtol=1e-12, atol=1e-12)


def test_adapter_on_tokens_is_a_linear_of_h_and_z(device):
    adapter = cast(ContextAdapter(channels=3, context_dim=2, channel_axis=-1, activation="sigmoid"), np.float64).to(device)
    rng = np.random.default_rng(4)
    h = rng.standard_normal((2, 5, 3))
    z = rng.standard_normal((2, 2))
    joined = np.concatenate([h, np.broadcast_to(z[:, None, :], (2, 5, 2))], axis=-1)
    expected = 1 / (1 + np.exp(-(joined @ mf.asnumpy(adapter.weight).T + mf.asnumpy(adapter.bias))))
    got = adapter(mf.tensor(h, device=device), mf.tensor(z, device=device))
    np.testing.assert_allclose(mf.asnumpy(got), expected, rtol=1e-12)


def test_diagnostics_match_their_definitions(device):
    model = tiny_feedback_cnn(device, mode="all-stages", steps_eval=3).eval()
    model(images(device, n=3))
    d = model.diagnostics()
    ys = [mf.asnumpy(y) for y in model.step_logits]
    assert all(isinstance(v, float) for v in d.values())
    for t in (1, 2, 3):
        change = np.linalg.norm(ys[t] - ys[t - 1])
        assert d[f"rel_change_{t}"] == pytest.approx(change / np.linalg.norm(ys[t]), rel=1e-9)
        p = np.exp(ys[t]) / np.exp(ys[t]).sum(1, keepdims=True)
        q = np.exp(ys[t - 1]) / np.exp(ys[t - 1]).sum(1, keepdims=True)
        assert d[f"kl_{t}"] == pytest.approx(np.mean(np.sum(p * np.log(p / q), axis=1)), rel=1e-7, abs=1e-15)
        for l in (1, 2, 3, 4):
            assert f"stage{l}_mse_{t}" in d and f"stage{l}_kl_{t}" in d
    for t in (2, 3):
        ratio = np.linalg.norm(ys[t] - ys[t - 1]) / np.linalg.norm(ys[t - 1] - ys[t - 2])
        assert d[f"contraction_{t}"] == pytest.approx(ratio, rel=1e-9)
    assert "contraction_1" not in d


def test_head_only_reports_the_last_stage_only(device):
    model = tiny_feedback_cnn(device, steps_eval=2).eval()
    model(images(device))
    stage_keys = {k.split("_")[0] for k in model.diagnostics() if k.startswith("stage")}
    assert stage_keys == {"stage4"}


def test_the_iteration_of_a_contraction_converges(device):
    """Head-only with alpha = 0.9 and small adapter weights: h <- 0.9 h + 0.1 psi(h, z) is a
    contraction of h_L, so the logits' changes shrink, each by about alpha (psi nearly constant)."""
    model = FeedbackCNN(**TINY_CNN, alpha=0.9, mode="head-only", steps_eval=5).to(device).eval()
    for adapter in model.adapters:
        adapter.weight.data *= 0.01
    model(images(device).astype(np.float32))
    d = model.diagnostics()
    for t in range(2, 6):
        assert d[f"contraction_{t}"] < 1.0
        assert d[f"contraction_{t}"] == pytest.approx(0.9, abs=0.02)
    assert d["rel_change_5"] < d["rel_change_1"]


def test_step_loss_averages_every_step(device):
    from minifb.models import training_loss
    model = tiny_feedback_cnn(device, steps_train=2, step_loss=True)
    labels = np.array([0, 2])
    y = model(images(device))
    loss = training_loss(model, y, labels)
    expected = np.mean([mf.cross_entropy(s, labels).item() for s in model.step_logits])
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    model.step_loss = False
    assert training_loss(model, y, labels).item() == pytest.approx(mf.cross_entropy(y, labels).item(), rel=1e-12)


def test_audio_models_take_any_number_of_frames(device):
    model = FeedbackAudioCNN(num_classes=5, widths=(2, 3, 4), hidden=6, mode="all-stages").to(device)
    for frames in (16, 23):
        x = mf.tensor(np.random.default_rng(0).standard_normal((2, 1, 8, frames)), device=device).astype(np.float32)
        assert model(x).shape == (2, 5)
    with pytest.raises(ValueError, match="AudioCNN"):
        AudioCNN().to(device)(mf.tensor(np.zeros((2, 40, 100), np.float32), device=device))


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="mode"):
        FeedbackCNN(**TINY_CNN, mode="middle")
    with pytest.raises(ValueError, match="alpha"):
        FeedbackCNN(**TINY_CNN, alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        FeedbackCNN(**TINY_CNN, alpha="fixed")
    with pytest.raises(ValueError, match="alpha"):
        FeedbackCNN(**TINY_CNN, alpha=None)
    with pytest.raises(ValueError, match="steps_eval"):
        FeedbackCNN(**TINY_CNN, steps_eval=-1)
    with pytest.raises(ValueError, match=r"alpha_init must be a number in \(0, 1\)"):
        FeedbackCNN(**TINY_CNN, alpha_init=1.0)
    with pytest.raises(ValueError, match="alpha_init applies to a learnable or gated alpha"):
        FeedbackCNN(**TINY_CNN, alpha=0.5, alpha_init=0.9)
    with pytest.raises(ValueError, match="detach must be one of"):
        FeedbackCNN(**TINY_CNN, detach="all")
    with pytest.raises(TypeError, match="StagedNetwork"):
        ContextualFeedback(mf.layers.Linear(2, 2))
    with pytest.raises(ValueError, match=r"CNN: expected images of shape \(N, 3, 4, 4\)"):
        CNN(**TINY_CNN)(mf.tensor(np.zeros((2, 3, 8, 8), np.float32)))
