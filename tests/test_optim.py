"""Optimizers against updates computed by hand, gradient clipping, schedules, and a small overfit."""
import math

import numpy as np
import pytest

import minifb as mf
from minifb.autograd import cross_entropy
from minifb.layers import Linear, Parameter, ReLU, Sequential
from minifb.optim import SGD, Adam, AdamW, CosineWarmup, OneCycle, StepDecay, clip_grad_norm


def run(optimizer_class, grads, device, start=1.0, dtype=np.float64, **options):
    """Values of one parameter (starting at ``start``, a number or an array) after each step with the given gradients."""
    p = Parameter(np.full(np.shape(grads[0]), start, dtype), device=device)
    opt = optimizer_class([p], **options)
    values = []
    for g in grads:
        p.grad = mf.backend.to_device(np.asarray(g, dtype), device)
        opt.step()
        values.append(p.numpy().copy())
    return np.array(values)


# ---- SGD: three steps of gradient 1 from p = 1, worked out by hand -------------------------------------

@pytest.mark.parametrize("options, expected", [
    (dict(lr=0.1), [0.9, 0.8, 0.7]),
    # buffer b = 1, 1.9, 2.71; p -= 0.1 b
    (dict(lr=0.1, momentum=0.9), [0.9, 0.71, 0.439]),
    # Nesterov: p -= 0.1 (1 + 0.9 b)
    (dict(lr=0.1, momentum=0.9, nesterov=True), [0.81, 0.539, 0.1951]),
    # dampening 0.5: b = 1, 0.9 + 0.5 = 1.4, 1.26 + 0.5 = 1.76
    (dict(lr=0.1, momentum=0.9, dampening=0.5), [0.9, 0.76, 0.584]),
    # L2 weight decay 0.5: g = 1 + 0.5 p; p = 1 - 0.15, 0.85 - 0.1425, ...
    (dict(lr=0.1, weight_decay=0.5), [0.85, 0.7075, 0.5721250]),
], ids=["plain", "momentum", "nesterov", "dampening", "weight_decay"])
def test_sgd_by_hand(device, options, expected):
    np.testing.assert_allclose(run(SGD, [[1.0]] * 3, device, **options)[:, 0], expected, rtol=1e-12)


def test_sgd_momentum_with_weight_decay_by_hand(device):
    # g1 = 1 + 0.1 = 1.1, b = 1.1, p = 1 - 0.11 = 0.89; g2 = 1 + 0.089 = 1.089, b = 0.99 + 1.089 = 2.079, p = 0.89 - 0.2079
    values = run(SGD, [[1.0]] * 2, device, lr=0.1, momentum=0.9, weight_decay=0.1)
    np.testing.assert_allclose(values[:, 0], [0.89, 0.6821], rtol=1e-12)


# ---- Adam and AdamW: the paper's form with bias-corrected moments --------------------------------------

def adam_textbook(p, grads, lr, beta1, beta2, eps, l2=0.0, decoupled=0.0):
    """Kingma & Ba's Algorithm 1 with m_hat, v_hat (plus L2 or decoupled decay), one step at a time."""
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    values = []
    for t, g in enumerate(grads, start=1):
        p = p * (1 - lr * decoupled)
        g = g + l2 * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        values.append(p)
    return np.array(values)


GRADS = np.random.default_rng(0).standard_normal((5, 4))


def test_adam_first_step_is_lr_times_sign(device):
    values = run(Adam, [[3.0, -0.5]], device, lr=0.01, eps=0.0)
    np.testing.assert_allclose(values[0], [0.99, 1.01], rtol=1e-12)


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_adam_against_textbook(device, weight_decay):
    values = run(Adam, GRADS, device, lr=0.05, betas=(0.8, 0.95), eps=1e-3, weight_decay=weight_decay)
    # PyTorch adds eps to sqrt(v) / sqrt(1 - beta2^t), i.e. to sqrt(v_hat): the textbook form
    expected = adam_textbook(np.ones(4), GRADS, 0.05, 0.8, 0.95, 1e-3, l2=weight_decay)
    np.testing.assert_allclose(values, expected, rtol=1e-10)


def test_adamw_against_textbook(device):
    values = run(AdamW, GRADS, device, lr=0.05, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.3)
    expected = adam_textbook(np.ones(4), GRADS, 0.05, 0.8, 0.95, 1e-3, decoupled=0.3)
    np.testing.assert_allclose(values, expected, rtol=1e-10)
    assert not np.allclose(values, run(Adam, GRADS, device, lr=0.05, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.3))


def test_adam_keeps_float32(device):
    values = run(AdamW, GRADS, device, dtype=np.float32, lr=0.05)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, adam_textbook(np.ones(4), GRADS, 0.05, 0.9, 0.999, 1e-8, decoupled=0.01), rtol=1e-5)


def test_adam_treats_complex_as_real_pairs(device):
    z = GRADS[:, :2] + 1j * GRADS[:, 2:]
    values = run(Adam, z, device, dtype=np.complex128, lr=0.05)
    pairs = run(Adam, GRADS, device, start=np.array([1.0, 1.0, 0.0, 0.0]), lr=0.05)  # (Re, Re, Im, Im) from 1 + 0i
    np.testing.assert_allclose(values, pairs[:, :2] + 1j * pairs[:, 2:], rtol=1e-12)


def test_parameters_without_grad_are_skipped(device):
    a, b = Parameter(np.ones(2), device=device), Parameter(np.ones(2), device=device)
    opt = Adam([a, b], lr=0.1)
    a.grad = mf.backend.to_device(np.ones(2), device)
    opt.step()
    assert float(b.data[0]) == 1.0 and "1.step" not in opt.state_dict() and opt.state_dict()["0.step"] == 1
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: Adam(ps, lr=0.1), lambda ps: AdamW(ps, lr=0.1)],
                         ids=["sgd", "adam", "adamw"])
def test_state_dict_round_trip_continues_identically(device, make):
    grads = np.random.default_rng(1).standard_normal((3, 2, 3)).astype(np.float32)
    params = [Parameter(np.ones((2, 3), np.float32), device=device), Parameter(np.ones(1, np.float32), device=device)]
    opt = make(params)
    for g in grads[:2]:
        params[0].grad, params[1].grad = mf.backend.to_device(g, device), mf.backend.to_device(g[0, :1], device)
        opt.step()
    state = opt.state_dict()
    copies = [Parameter(p.numpy(), device=device) for p in params]
    restored = make(copies)
    restored.load_state_dict(state)
    for o, ps in ((opt, params), (restored, copies)):
        ps[0].grad, ps[1].grad = mf.backend.to_device(grads[2], device), mf.backend.to_device(grads[2][0, :1], device)
        o.step()
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_checks_before_changing(device):
    opt = Adam([Parameter(np.ones((2, 3)), device=device)], lr=0.1)
    opt.params[0].grad = mf.backend.to_device(np.ones((2, 3)), device)
    opt.step()
    other = Adam([Parameter(np.ones((3, 2)), device=device)], lr=0.5)
    with pytest.raises(ValueError, match=r"key '0.exp_avg' has shape \(2, 3\), the parameter has shape \(3, 2\)"):
        other.load_state_dict(opt.state_dict())
    assert other.lr == 0.5 and other.state == [{}]
    with pytest.raises(ValueError, match="the state is from 'Adam', not SGD"):
        SGD(other.params, lr=0.1).load_state_dict(opt.state_dict())


def test_optimizer_argument_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 must be a Tensor with requires_grad=True"):
        Adam([mf.tensor([1.0])])
    shared = Parameter([1.0])
    with pytest.raises(ValueError, match="appears more than once"):
        Adam([shared, shared])
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        SGD([Parameter([1.0])], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be in \[0, 1\), got 1.0"):
        Adam([Parameter([1.0])], betas=(0.9, 1.0))


# ---- clipping ------------------------------------------------------------------------------------

def test_clip_grad_norm(device):
    a, b = Parameter(np.zeros(2), device=device), Parameter(np.zeros(1), device=device)
    a.grad, b.grad = mf.backend.to_device(np.array([3.0, 4.0]), device), mf.backend.to_device(np.array([12.0]), device)
    assert float(clip_grad_norm([a, b], 100.0)) == pytest.approx(13.0)
    np.testing.assert_array_equal(mf.asnumpy(a.grad), [3.0, 4.0])  # under the limit: untouched
    assert float(clip_grad_norm([a, b], 1.0)) == pytest.approx(13.0)
    scale = 1.0 / (13.0 + 1e-6)
    np.testing.assert_allclose(mf.asnumpy(a.grad), [3 * scale, 4 * scale], rtol=1e-12)
    np.testing.assert_allclose(mf.asnumpy(b.grad), [12 * scale], rtol=1e-12)
    c = Parameter(np.zeros(1, np.complex64), device=device)
    c.grad = mf.backend.to_device(np.array([3 + 4j], np.complex64), device)
    assert float(clip_grad_norm([c], 10.0)) == pytest.approx(5.0)


# ---- schedules -----------------------------------------------------------------------------------

def lrs(schedule, steps):
    values = [schedule.optimizer.lr]
    for _ in range(steps):
        schedule.step()
        assert schedule.optimizer.lr == schedule.get_lr()
        values.append(schedule.optimizer.lr)
    return values


def optimizer(lr=1.0):
    return SGD([Parameter([0.0])], lr=lr)


def test_cosine_with_warmup_values():
    values = lrs(CosineWarmup(optimizer(), warmup_steps=4, total_steps=12, min_lr=0.1), 14)
    assert values[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert values[8] == pytest.approx(0.1 + 0.9 * 0.5)        # halfway through the cosine
    assert values[6] == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)
    assert values[12:] == pytest.approx([0.1] * 3)          # stays at min_lr after the end


def test_step_decay_values():
    assert lrs(StepDecay(optimizer(2.0), step_size=3, gamma=0.5), 7) == pytest.approx([2, 2, 2, 1, 1, 1, 0.5, 0.5])


def test_one_cycle_values():
    values = lrs(OneCycle(optimizer(), max_lr=1.0, total_steps=10, pct_start=0.3), 9)
    # peak at step 0.3 * 10 - 1 = 2; start 1/25; end 1/25/1e4 at step 9; cos halves in between
    assert values[0] == pytest.approx(0.04) and values[1] == pytest.approx(0.52) and values[2] == pytest.approx(1.0)
    assert values[9] == pytest.approx(4e-6)
    q = (5 - 2) / 7
    assert values[5] == pytest.approx(4e-6 + (1 - 4e-6) * (1 + math.cos(math.pi * q)) / 2)


def test_schedule_state_round_trip():
    first = CosineWarmup(optimizer(0.3), warmup_steps=2, total_steps=10)
    lrs(first, 5)
    second = CosineWarmup(optimizer(0.3), warmup_steps=2, total_steps=10)
    second.load_state_dict(first.state_dict())
    assert second.optimizer.lr == first.optimizer.lr and lrs(second, 2) == lrs(first, 2)
    with pytest.raises(ValueError, match="the state is from 'CosineWarmup'"):
        StepDecay(optimizer(), 2).load_state_dict(first.state_dict())
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        CosineWarmup(optimizer(), 10, 10)


# ---- training ---------------------------------------------------------------------------------------

def test_mlp_overfits_random_points(device):
    rng = np.random.default_rng(0)
    x = mf.tensor(rng.standard_normal((64, 10)).astype(np.float32), device=device)
    y = mf.backend.to_device(rng.integers(0, 4, 64), device)
    model = Sequential(Linear(10, 64), ReLU(), Linear(64, 4)).to(device)
    opt = Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


# ---- the same numbers as PyTorch (when it is installed) ------------------------------------------------

@pytest.mark.parametrize("name, options", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
], ids=["sgd-wd", "sgd-nesterov", "sgd-dampening", "adam", "adamw"])
def test_optimizers_match_pytorch(device, name, options):
    torch = pytest.importorskip("torch")
    start = np.random.default_rng(2).standard_normal((3, 4))
    grads = np.random.default_rng(3).standard_normal((6, 3, 4))
    ours = run({"SGD": SGD, "Adam": Adam, "AdamW": AdamW}[name], grads, device, start=start, **options)
    p = torch.nn.Parameter(torch.tensor(start))
    theirs_opt = getattr(torch.optim, name)([p], **options)
    theirs = []
    for g in grads:
        p.grad = torch.tensor(g)
        theirs_opt.step()
        theirs.append(p.detach().numpy().copy())
    np.testing.assert_allclose(ours, np.array(theirs), rtol=1e-12, atol=1e-14)


def test_step_and_one_cycle_schedules_match_pytorch():
    torch = pytest.importorskip("torch")

    def torch_lrs(make, steps):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        schedule = make(opt)
        values = [opt.param_groups[0]["lr"]]
        for _ in range(steps):
            opt.step()
            schedule.step()
            values.append(opt.param_groups[0]["lr"])
        return values

    assert lrs(StepDecay(optimizer(), step_size=4, gamma=0.3), 12) == pytest.approx(
        torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.3), 12), rel=1e-12)
    assert lrs(OneCycle(optimizer(), max_lr=0.5, total_steps=17, pct_start=0.25), 16) == pytest.approx(
        torch_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=17, pct_start=0.25,
                                                                cycle_momentum=False), 16), rel=1e-12)


# ---- parameter groups ----------------------------------------------------------------------------

def two_groups(device, seed=4):
    rng = np.random.default_rng(seed)
    body = [Parameter(rng.standard_normal((3, 2)), device=device), Parameter(rng.standard_normal(2), device=device)]
    head = [Parameter(rng.standard_normal((2, 2)), device=device)]
    return body, head


def set_grads(params, step, device):
    for k, p in enumerate(params):
        p.grad = mf.backend.to_device(np.random.default_rng([step, k]).standard_normal(p.shape), device)


@pytest.mark.parametrize("make, body_options, head_options", [
    (Adam, dict(lr=0.05, weight_decay=0.1), dict(lr=0.2, betas=(0.5, 0.9))),
    (AdamW, dict(lr=0.05), dict(lr=0.01, weight_decay=0.3, eps=1e-3)),
    (SGD, dict(lr=0.1, momentum=0.9), dict(lr=0.3, momentum=0.0, nesterov=False)),
], ids=["adam", "adamw", "sgd"])
def test_each_group_follows_its_own_settings(device, make, body_options, head_options):
    """One optimizer over two groups updates exactly as two optimizers, one per group."""
    body, head = two_groups(device)
    grouped = make([{"params": body}, {"params": head, **head_options}], **body_options)
    body_alone, head_alone = two_groups(device)
    separate = [make(body_alone, **body_options), make(head_alone, **{**body_options, **head_options})]
    for step in range(3):
        set_grads(body + head, step, device)
        set_grads(body_alone + head_alone, step, device)
        grouped.step()
        for opt in separate:
            opt.step()
    for p, q in zip(body + head, body_alone + head_alone):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert grouped.param_groups[1]["lr"] == head_options["lr"] and grouped.lr == body_options["lr"]


def test_groups_in_the_state_dict_and_back(device):
    body, head = two_groups(device)
    opt = Adam([{"params": body}, {"params": head, "lr": 0.5, "betas": (0.8, 0.9)}], lr=0.1)
    set_grads(body + head, 0, device)
    opt.step()
    state = opt.state_dict()
    assert state["param_groups"] == [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                      "params": [0, 1]},
                                     {"lr": 0.5, "betas": (0.8, 0.9), "eps": 1e-8, "weight_decay": 0.0, "params": [2]}]
    copies = [Parameter(p.numpy(), device=device) for p in body + head]
    restored = Adam([{"params": copies[:2]}, {"params": copies[2:]}], lr=0.7)
    restored.load_state_dict(state)
    assert restored.param_groups[1]["betas"] == (0.8, 0.9) and restored.param_groups[0]["lr"] == 0.1
    set_grads(body + head, 1, device)
    set_grads(copies, 1, device)
    opt.step()
    restored.step()
    for p, q in zip(body + head, copies):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    one_group = Adam(copies, lr=0.1)  # grouped differently: refused, nothing changed
    with pytest.raises(ValueError, match=r"parameter group 0 holds the parameters \[0, 1\], this optimizer's holds "
                                         r"\[0, 1, 2\]"):
        one_group.load_state_dict(state)
    assert one_group.state == [{}, {}, {}]
    # A state of the flat form (no param_groups: one group, its settings at the top) still loads.
    flat = {k: v for k, v in Adam(copies, lr=0.3).state_dict().items() if k != "param_groups"}
    one_group.load_state_dict(flat)
    assert one_group.lr == 0.3


def test_a_schedule_moves_every_group_keeping_their_ratios():
    body, head = two_groups("cpu")
    opt = SGD([{"params": body}, {"params": head, "lr": 0.3}], lr=0.1)
    schedule = StepDecay(opt, step_size=1, gamma=0.5)
    schedule.step()
    assert opt.lr == pytest.approx(0.05) and opt.param_groups[1]["lr"] == pytest.approx(0.15)
    opt.momentum = 0.5  # any other hyper-parameter set on the optimizer is set in every group
    assert [g["momentum"] for g in opt.param_groups] == [0.5, 0.5]


def test_group_errors_name_the_group():
    body, head = two_groups("cpu")
    with pytest.raises(ValueError, match=r"Adam \(parameter group 1\): betas\[1\] must be in \[0, 1\), got 1.5"):
        Adam([{"params": body}, {"params": head, "betas": (0.9, 1.5)}])
    with pytest.raises(ValueError, match="parameter group 1 needs 'params' and takes only"):
        Adam([{"params": body}, {"params": head, "momentum": 0.9}])
    with pytest.raises(ValueError, match=r"empty parameter list \(parameter group 1\)"):
        SGD([{"params": body}, {"params": []}], lr=0.1)
    with pytest.raises(TypeError, match="all parameters or all parameter groups"):
        SGD([{"params": body}, head[0]], lr=0.1)
    with pytest.raises(ValueError, match="appears more than once"):
        SGD([{"params": body}, {"params": body[:1]}], lr=0.1)


def test_groups_match_pytorch():
    torch = pytest.importorskip("torch")
    body, head = two_groups("cpu")
    ours = AdamW([{"params": body, "weight_decay": 0.2}, {"params": head, "lr": 0.02}], lr=0.05)
    twins = [torch.nn.Parameter(torch.tensor(p.numpy())) for p in body + head]
    theirs = torch.optim.AdamW([{"params": twins[:2], "weight_decay": 0.2}, {"params": twins[2:], "lr": 0.02}], lr=0.05)
    for step in range(3):
        set_grads(body + head, step, "cpu")
        for p, q in zip(body + head, twins):
            q.grad = torch.tensor(p.grad)
        ours.step()
        theirs.step()
    for p, q in zip(body + head, twins):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-14)
