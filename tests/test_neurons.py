"""The nn.Module neurons: layout, parameters, train/eval behaviour, mem_loss, PyTorch plumbing."""

import io

import pytest
import torch
from torch import nn

import mpe_psn
from mpe_psn import LIF, MPEPSN, PSN
from mpe_psn import functional as F


def test_mpepsn_eval_with_expected_estimator_equals_functional_and_is_deterministic():
    layer = MPEPSN(T=5, backend="reference").eval()
    x = torch.randn(5, 4, 3, 6, 6)
    a, b = layer(x), layer(x)
    assert torch.equal(a, b)
    assert torch.equal(a, F.mpe_psn(x, estimator="expected").spikes)


def test_mpepsn_train_mode_is_reproducible_with_a_seed():
    layer = MPEPSN(T=6).train()
    x = torch.randn(6, 2, 100)
    torch.manual_seed(7)
    a = layer(x)
    torch.manual_seed(7)
    b = layer(x)
    torch.manual_seed(8)
    c = layer(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_mem_loss_with_learned_kappa_is_the_spec_formula():
    T = 4
    layer = MPEPSN(T=T, backend="reference").eval()
    with torch.no_grad():
        layer.kappa_logits.copy_(torch.tensor([0.0, 1.0, 2.0, -1.0]))
    x = torch.randn(T, 3, 2, 5, 5)  # conv maps: kappa weights time steps only
    layer(x)
    r = F.mpe_psn(x, estimator="expected")
    kappa = torch.softmax(torch.tensor([0.0, 1.0, 2.0, -1.0]), 0)
    expected = sum(kappa[t] * ((r.v_hat[t] - r.v[t]) ** 2).mean() for t in range(T)) / T
    torch.testing.assert_close(layer.mem_loss, expected)
    flat = torch.randn(T, 3, 7)  # flat features: the same per-step weighting
    layer(flat)
    r = F.mpe_psn(flat, estimator="expected")
    expected = sum(kappa[t] * ((r.v_hat[t] - r.v[t]) ** 2).mean() for t in range(T)) / T
    torch.testing.assert_close(layer.mem_loss, expected)


@pytest.mark.parametrize("kappa", [None, "uniform", [0.1, 0.5, 0.3, 0.1]])
def test_fused_mpepsn_learns_like_the_reference(kappa):
    """The fused layer (learned kappa's softmax taken inside it, or fixed / uniform weights) gives
    the reference's L_mem and gradients of the input, the threshold and kappa's logits."""
    T = 4
    x = torch.randn(T, 3, 2, 5) + 0.4
    results = {}
    for backend in ("cpu", "reference"):
        layer = MPEPSN(T=T, kappa=kappa, estimator="expected", backend=backend).train()
        if layer.kappa_mode == "learned":
            with torch.no_grad():
                layer.kappa_logits.copy_(torch.tensor([0.5, -1.0, 0.2, 1.5]))
        xi = x.clone().requires_grad_(True)
        spikes = layer(xi)
        (spikes.sum() + 5.0 * mpe_psn.membrane_loss(layer)).backward()
        results[backend] = [spikes, layer.mem_loss, xi.grad, layer.threshold.grad] + \
            ([layer.kappa_logits.grad] if layer.kappa_mode == "learned" else [])
    for got, want in zip(results["cpu"], results["reference"]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    if kappa is None:
        assert float(results["cpu"][-1].abs().sum()) > 0  # the logits learn


def test_membrane_loss_of_one_layer_is_its_own_and_of_several_their_sum():
    model = nn.Sequential(MPEPSN(T=3, backend="reference"), nn.Linear(4, 4), MPEPSN(T=3, backend="reference")).eval()
    model(torch.randn(3, 2, 4))
    first, second = model[0].mem_loss, model[2].mem_loss
    torch.testing.assert_close(mpe_psn.membrane_loss(model), first + second)
    assert mpe_psn.membrane_loss(model[0]) is first  # one layer: no op at all


def test_uniform_kappa_needs_no_T_and_is_one_over_T():
    layer = MPEPSN(kappa="uniform", backend="reference").eval()
    x = torch.randn(8, 10)
    layer(x)
    r = F.mpe_psn(x, estimator="expected")
    torch.testing.assert_close(layer.mem_loss, ((r.v_hat - r.v) ** 2).mean() / 8)
    assert layer.kappa is None and not any("kappa" in n for n, _ in layer.named_parameters())


def test_learned_kappa_stays_a_non_negative_distribution_when_pushed_down():
    layer = MPEPSN(T=4, backend="reference")
    assert torch.allclose(layer.kappa, torch.full((4,), 0.25))
    opt = torch.optim.SGD(layer.parameters(), lr=50.0)
    x = torch.randn(4, 64) + 0.5
    for _ in range(30):
        opt.zero_grad()
        layer(x)
        layer.mem_loss.backward()  # the loss is linear in kappa: it pushes kappa down
        opt.step()
        assert (layer.kappa >= 0).all()
        torch.testing.assert_close(layer.kappa.sum(), torch.tensor(1.0))
    assert not torch.allclose(layer.kappa, torch.full((4,), 0.25))  # it did learn


def test_fixed_kappa_weights():
    layer = MPEPSN(kappa=[0.0, 1.0, 3.0], backend="reference").eval()
    assert layer.T == 3
    x = torch.randn(3, 20)
    layer(x)
    r = F.mpe_psn(x, estimator="expected")
    per_step = ((r.v_hat - r.v) ** 2).mean(1)
    torch.testing.assert_close(layer.mem_loss, (torch.tensor([0.0, 1.0, 3.0]) * per_step).mean())


@pytest.mark.parametrize("kwargs,match", [
    (dict(kappa="learned"), "needs T"),
    (dict(kappa="softmax", T=3), "unknown kappa"),
    (dict(kappa=[0.5, -0.1, 0.6], T=3), "non-negative"),
    (dict(kappa=[0.5, float("nan"), 0.6]), "non-negative"),
    (dict(kappa=[0.5, 0.5], T=3), "T = 3 weights"),
    (dict(estimator="mean"), "unknown estimator"),
    (dict(eval_estimator="mean"), "unknown estimator"),
    (dict(surrogate="relu"), "unknown surrogate"),
    (dict(backend="cuda"), "unknown backend"),
    (dict(T=0), "positive int"),
    (dict(tau=2.0), "tau"),
])
def test_bad_construction_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MPEPSN(**kwargs)


@pytest.mark.parametrize("neuron", [MPEPSN(T=4), LIF(T=4), PSN(4)])
def test_T_that_disagrees_with_the_layer_is_named(neuron):
    with pytest.raises(ValueError, match="built for T = 4 .* got T = 5"):
        neuron(torch.randn(5, 2, 3))


@pytest.mark.parametrize("neuron", [MPEPSN(), LIF(), PSN(3)])
def test_modules_reject_bad_tensors(neuron):
    with pytest.raises(ValueError, match="at least 2 dims"):
        neuron(torch.randn(3))
    with pytest.raises(TypeError, match="floating-point"):
        neuron(torch.ones(3, 2, dtype=torch.long))


@pytest.mark.parametrize("make", [lambda: MPEPSN(T=5).eval(), lambda: LIF(), lambda: PSN(5)])
def test_batch_first_layout_is_the_transpose(make):
    torch.manual_seed(0)
    time_major = make()
    batch_major = make()
    batch_major.load_state_dict(time_major.state_dict())
    batch_major.batch_first = True
    x = torch.randn(5, 3, 8)
    assert torch.equal(batch_major(x.transpose(0, 1)), time_major(x).transpose(0, 1))


def test_lif_module_equals_functional_and_learns_its_threshold():
    layer = LIF(threshold=0.8)
    x = (torch.randn(6, 4, 10) + 0.5).requires_grad_()
    s = layer(x)
    assert torch.equal(s, F.lif(x.detach(), threshold=0.8).spikes)
    s.sum().backward()
    assert layer.threshold.grad is not None and layer.threshold.grad != 0
    assert isinstance(LIF(learn_threshold=False).threshold, torch.Tensor)
    assert len(list(LIF(learn_threshold=False).parameters())) == 0


def test_psn_module_equals_its_formula():
    layer = PSN(4)
    x = torch.randn(4, 2, 3)
    h = torch.einsum("ts,sbn->tbn", layer.weight.detach(), x) + layer.bias.detach()[:, None, None]
    assert torch.equal(layer(x), (h > 0).float())


@pytest.mark.parametrize("make", [lambda: MPEPSN(T=4, threshold=0.7), lambda: LIF(threshold=0.7), lambda: PSN(4)])
def test_state_dict_round_trip_through_bytes(make):
    a, b = make(), make()
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn_like(p))
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(4, 3, 5)
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))


def test_works_inside_sequential_with_conv_and_trains():
    T, B = 4, 3
    torch.manual_seed(0)

    class PerStep(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    net = nn.Sequential(PerStep(nn.Conv2d(2, 4, 3, padding=1)), MPEPSN(T=T), PerStep(nn.Flatten()), PerStep(nn.Linear(4 * 6 * 6, 3)))
    x = torch.randn(T, B, 2, 6, 6)
    out = net(x)
    assert out.shape == (T, B, 3)
    loss = mpe_psn.total_loss(out, torch.tensor([0, 1, 2]), net).total
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_autocast_bfloat16_on_cpu():
    layer = MPEPSN(T=3)
    conv = nn.Linear(8, 8)
    x = torch.randn(3, 2, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = layer(conv(x))
        loss = s.float().sum() + layer.mem_loss.float()
    loss.backward()
    assert set(s.float().unique().tolist()) <= {0.0, 1.0}
    assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()


def test_ddp_single_process_gloo(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/rendezvous", rank=0, world_size=1)
    try:
        model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(5, 5), MPEPSN(T=3)))
        out = model(torch.randn(3, 2, 5))
        (out.sum() + mpe_psn.membrane_loss(model)).backward()
        assert model.module[0].weight.grad is not None
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_torch_compile_matches_eager():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 6), MPEPSN(T=4, backend="reference"), nn.Linear(6, 2), LIF()).eval()
    x = torch.randn(4, 3, 6)
    compiled = torch.compile(net)
    assert torch.equal(compiled(x), net(x))
