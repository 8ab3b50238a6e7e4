"""CUDA-graph capture of training steps (minifb/cuda_graph.py) and the capturable GPU forms it relies
on: cuBLAS products (minifb/cublas.py), Philox random numbers (minifb/philox.py), Adam with its state
on the device, deferred device checks (minifb/deferred_checks.py).

The CPU tests check the eager behaviour every machine has; the GPU tests (skipped without CuPy and a
GPU) check that a replayed step computes what the eager one computes.
"""
import numpy as np
import pytest

import minifb
from minifb import backend, models, optim
from minifb.autograd import cross_entropy
from minifb.autograd.dropout import dropout
from minifb.cuda_graph import CapturedStep
from minifb.deferred_checks import Deferred, deferred, require


def _needs_gpu(device):
    if device != "cuda":
        pytest.skip("a CUDA graph needs the GPU")


# ---- every machine --------------------------------------------------------------------------------

def test_step_on_cpu_runs_eagerly_and_says_why():
    w = minifb.tensor(np.ones(3), requires_grad=True)
    step = CapturedStep(lambda x: (w * x).sum())
    out = step(np.arange(3.0))
    assert float(out) == 3.0
    assert not step.captured and "CuPy" in step.fallback_reason


def test_tensor_inputs_are_taken_as_their_arrays():
    step = CapturedStep(lambda x, y: x * y)
    np.testing.assert_array_equal(step(minifb.tensor(np.ones(2)), np.full(2, 3.0)), [3.0, 3.0])


def test_switched_off_step_says_so():
    step = CapturedStep(lambda x: x * 2, enabled=False)
    np.testing.assert_array_equal(step(np.ones(2)), [2.0, 2.0])
    assert step.fallback_reason == "capture switched off"


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="CapturedStep: function must be callable"):
        CapturedStep(3)
    with pytest.raises(ValueError, match="CapturedStep: call it with the step's input arrays"):
        CapturedStep(lambda: None)()


def test_deferred_check_raises_later_with_the_count():
    checks = Deferred()
    with deferred(checks):
        require(np.array(True), "op: bad thing")
        require(np.array(False), "op: bad thing")
        require(np.array(True), "op: bad thing")
    with pytest.raises(ValueError, match=r"op: bad thing \(in 2 call\(s\) since the last check\)"):
        checks.check()


def test_deferred_check_passes_when_nothing_failed():
    checks = Deferred()
    with deferred(checks):
        require(np.array(False), "op: bad thing")
    checks.check()  # raises nothing
    assert int(checks.counters["op: bad thing"][0]) == 0


def test_immediate_check_outside_a_deferred_block_gives_the_detail():
    with pytest.raises(IndexError, match="op: out of range, got 7"):
        require(np.array(True), "op: out of range", lambda: ", got 7", IndexError)


def test_cross_entropy_labels_are_checked_at_once_on_numpy_even_when_deferred():
    logits = minifb.tensor(np.zeros((2, 3), np.float32))
    with deferred(), pytest.raises(ValueError, match=r"cross_entropy: labels must be in \[0, 3\).*got values"):
        cross_entropy(logits, np.array([0, 3]))


def test_train_refuses_cuda_graph_on_the_cpu(tmp_path, capsys):
    from minifb.__main__ import main
    code = main(["train", "cifar10-sample", "--model", "cnn", "--cuda-graph", "--epochs", "1",
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert "--cuda-graph applies to --device cuda only" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# ---- the GPU ---------------------------------------------------------------------------------------

LAYOUTS = [((5, 7), (7, 3), 0, 0), ((4, 5, 7), (7, 3), 0, 0), ((4, 5, 7), (4, 7, 3), 1, 0),
           ((2, 4, 5, 7), (2, 4, 7, 3), 1, 1), ((7,), (7, 3), 0, 0), ((5, 7), (7,), 0, 0),
           ((3, 1, 5, 7), (1, 4, 7, 3), 0, 1), ((1, 7), (7, 1), 0, 0), ((5, 0), (0, 3), 0, 0),
           ((64, 300), (300, 33), 0, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("shapes", LAYOUTS)
def test_cublas_products_match_cupy(device, xp, dtype, shapes):
    _needs_gpu(device)
    from minifb import cublas
    shape_a, shape_b, transpose_a, transpose_b = shapes
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.standard_normal(shape_a)).astype(dtype)
    b = xp.asarray(rng.standard_normal(shape_b)).astype(dtype)
    if transpose_a and a.ndim >= 2:  # the same values, stored transposed
        a = xp.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)
    if transpose_b and b.ndim >= 2:
        b = xp.ascontiguousarray(b.swapaxes(-1, -2)).swapaxes(-1, -2)
    expected = xp.matmul(a, b)
    got = cublas.matmul(a, b)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    tol = 1e-4 if dtype in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(backend.asnumpy(got), backend.asnumpy(expected), rtol=tol, atol=tol)


def test_cublas_product_of_a_strided_view(device, xp):
    _needs_gpu(device)
    from minifb import cublas
    a = xp.arange(60, dtype=np.float64).reshape(6, 10)[:, ::2]
    b = xp.arange(20, dtype=np.float64).reshape(5, 4)
    np.testing.assert_array_equal(backend.asnumpy(cublas.matmul(a, b)), backend.asnumpy(a @ b))


def test_philox_draws_are_uniform_new_each_time_and_reproducible(device):
    _needs_gpu(device)
    from minifb import philox
    minifb.seed(3)
    first, second = philox.uniform(100_000), philox.uniform(100_000)
    minifb.seed(3)
    again = philox.uniform(100_000)
    a, b = backend.asnumpy(first), backend.asnumpy(second)
    assert 0.0 <= a.min() and a.max() < 1.0
    assert abs(a.mean() - 0.5) < 0.01 and abs(a.var() - 1 / 12) < 0.005
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, backend.asnumpy(again))


def test_adam_with_its_state_on_the_device_matches_the_host_rule(device):
    _needs_gpu(device)
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal(6), [rng.standard_normal(6) for _ in range(5)]
    results = []
    for graph_safe in (False, True):
        p = minifb.tensor(start, requires_grad=True, device="cuda")
        opt = optim.AdamW([p], lr=0.1, weight_decay=0.01)
        for i, g in enumerate(grads):
            opt.lr = 0.1 / (i + 1)  # a schedule: the device copy must follow
            p.grad = backend.to_device(g, "cuda")
            if graph_safe:
                with backend.graph_safe():
                    opt.step()
            else:
                opt.step()
        results.append(backend.asnumpy(p.data))
        assert opt.state_dict()["0.step"] == 5
    np.testing.assert_allclose(results[1], results[0], rtol=1e-14)


def _model_step(name):
    minifb.seed(0)
    model = models.create(name).to("cuda").train()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        loss = models.training_loss(model, model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return step, optimizer


@pytest.mark.slow
@pytest.mark.parametrize("name", models.available())
def test_replayed_steps_compute_what_eager_steps_compute(device, xp, name):
    _needs_gpu(device)
    rng = np.random.default_rng(0)
    shape = (16, 1, 40, 101) if "audio" in name else (16, 3, 32, 32)
    classes = 12 if "audio" in name else 10
    batches = [(xp.asarray(rng.standard_normal(shape), dtype=np.float32), xp.asarray(rng.integers(0, classes, 16)))
               for _ in range(4)]
    losses = {}
    for capture in (False, True):
        function, optimizer = _model_step(name)
        minifb.seed(1)
        step = CapturedStep(function, [optimizer], enabled=capture)
        losses[capture] = [float(step(*batches[i % 4])) for i in range(20)]
        step.check()
        assert step.captured == capture, step.fallback_reason
    np.testing.assert_allclose(losses[True], losses[False], rtol=2e-5, atol=2e-6)


def test_replays_draw_new_dropout_masks(device, xp):
    _needs_gpu(device)
    step = CapturedStep(lambda x: dropout(x, 0.5))
    masks = [backend.asnumpy(step(xp.ones(1000, np.float32))).copy() for _ in range(4)]
    assert step.captured
    assert len({m.tobytes() for m in masks}) == 4
    assert all(0.4 < (m > 0).mean() < 0.6 for m in masks)


def test_bad_labels_in_a_replayed_step_are_reported_by_check(device, xp):
    _needs_gpu(device)
    logits = minifb.tensor(xp.zeros((4, 3), np.float32), requires_grad=True)
    step = CapturedStep(lambda y: cross_entropy(logits, y))
    for labels in ([0, 1, 2, 0], [0, 1, 2, 0], [0, 1, 5, 0]):
        step(xp.asarray(labels))
    assert step.captured
    with pytest.raises(ValueError, match=r"cross_entropy: labels must be in \[0, 3\).*in 1 call"):
        step.check()
