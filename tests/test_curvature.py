"""Objective: curvature products against dense matrices, BatchNorm handling, chunking, counters."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.functional import hessian, jacobian
from torch.func import functional_call

from secondorder.cost import CostCounters
from secondorder.curvature import Objective, frozen_batchnorm_stats

DT = torch.float64


def mlp(act: type[nn.Module]) -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5), act(), nn.Linear(5, 3))


def cnn(act: type[nn.Module]) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), act(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def mlp_bn() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3))


def cnn_bn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )


MODELS = {
    "mlp-tanh": (lambda: mlp(nn.Tanh), (4,)),
    "mlp-relu": (lambda: mlp(nn.ReLU), (4,)),
    "cnn-tanh": (lambda: cnn(nn.Tanh), (1, 6, 6)),
    "cnn-relu": (lambda: cnn(nn.ReLU), (1, 6, 6)),
    "mlp-bn": (mlp_bn, (4,)),
    "cnn-bn": (cnn_bn, (1, 6, 6)),
}


def make(name: str, n: int = 6, seed: int = 0) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    torch.manual_seed(seed)
    factory, shape = MODELS[name]
    model = factory().to(DT)
    for m in model.modules():  # non-trivial BatchNorm affine parameters and running stats
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(n, *shape, dtype=DT)
    y = torch.randint(0, 3, (n,))
    return model, (x, y)


def reference_fns(model: nn.Module, batch):
    """Loss and output as functions of the flat parameters, on a copy of the model.

    The copy has no running statistics, so train-mode BatchNorm uses batch statistics without
    any of the Objective's machinery (an independent reference).
    """
    ref = copy.deepcopy(model)
    if ref.training:
        for m in ref.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean = None
                m.running_var = None
    names = [n for n, p in ref.named_parameters()]
    shapes = [p.shape for p in ref.parameters()]
    numels = [p.numel() for p in ref.parameters()]
    x, y = batch

    def output(flat):
        parts = [c.view(s) for c, s in zip(torch.split(flat, numels), shapes, strict=True)]
        return functional_call(ref, dict(zip(names, parts, strict=True)), (x,))

    def loss(flat):
        return F.cross_entropy(output(flat), y)

    return loss, output


def dense_hessian_and_ggn(model: nn.Module, batch, flat: torch.Tensor):
    loss, output = reference_fns(model, batch)
    h = hessian(loss, flat, vectorize=True)
    out = output(flat)
    j = jacobian(output, flat, vectorize=True).reshape(out.numel(), -1)
    h_out = hessian(
        lambda o: F.cross_entropy(o.view_as(out), batch[1]), out.reshape(-1), vectorize=True
    )
    return h, j.T @ h_out @ j


def bn_state(model: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for b in model.buffers()]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("train", [True, False])
def test_products_equal_dense_matrices(name: str, train: bool) -> None:
    model, batch = make(name)
    model.train(train)
    obj = Objective(model)
    flat = obj.flat_params()
    h, g = dense_hessian_and_ggn(model, batch, flat)
    before = bn_state(model)
    eye = torch.eye(obj.numel, dtype=DT)
    hv = torch.stack([obj.hvp(batch, e) for e in eye], dim=1)
    gv = torch.stack([obj.ggnvp(batch, e) for e in eye], dim=1)
    torch.testing.assert_close(hv, h, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gv, g, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(hv, hv.T, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(obj.loss(batch), reference_fns(model, batch)[0](flat))
    for b0, b1 in zip(before, model.buffers(), strict=True):
        assert torch.equal(b0, b1)  # running stats and num_batches_tracked untouched
    assert torch.linalg.eigvalsh(g).min() > -1e-10  # the Gauss-Newton matrix is PSD


def layer_blocks(model: nn.Module) -> list[slice]:
    """Index ranges of the parameters of each layer in the flat vector."""
    blocks, start = [], 0
    for m in model.modules():
        size = sum(p.numel() for p in m.parameters(recurse=False))
        if size:
            blocks.append(slice(start, start + size))
            start += size
    return blocks


@pytest.mark.parametrize("name", ["mlp-relu", "cnn-relu", "mlp-tanh", "cnn-tanh"])
def test_relu_hessian_blocks_equal_ggn(name: str) -> None:
    """What holds for piecewise-linear nets (linear output, cross-entropy).

    The network output is linear in the parameters of any single layer when ReLU's second
    derivative is zero, so each layer's diagonal block of the Hessian equals that of the
    Gauss-Newton matrix; the cross-layer blocks differ (the output is bilinear across layers),
    so H != GGN overall. With tanh even the diagonal blocks differ (except the last layer's).
    """
    model, batch = make(name, n=8)
    obj = Objective(model)
    h, g = dense_hessian_and_ggn(model, batch, obj.flat_params())
    blocks = layer_blocks(model)
    first = blocks[0]
    last = blocks[-1]
    torch.testing.assert_close(h[last, last], g[last, last], rtol=1e-10, atol=1e-10)
    assert not torch.allclose(h, g, atol=1e-6)
    if "relu" in name:
        for b in blocks:
            torch.testing.assert_close(h[b, b], g[b, b], rtol=1e-10, atol=1e-10)
    else:
        assert not torch.allclose(h[first, first], g[first, first], atol=1e-6)


def test_hessian_equals_ggn_for_a_linear_model() -> None:
    """Softmax regression: the output is linear in the parameters, so H = GGN exactly."""
    torch.manual_seed(1)
    model = nn.Linear(4, 3).to(DT)
    batch = (torch.randn(7, 4, dtype=DT), torch.randint(0, 3, (7,)))
    obj = Objective(model)
    for _ in range(3):
        v = torch.randn(obj.numel, dtype=DT)
        torch.testing.assert_close(obj.hvp(batch, v), obj.ggnvp(batch, v))


@pytest.mark.parametrize("name", ["mlp-tanh", "cnn-relu"])
def test_chunked_equals_unchunked(name: str) -> None:
    model, batch = make(name, n=10)
    full = Objective(model)
    chunked = Objective(model, chunk_size=3)  # chunks of 3, 3, 3, 1
    v = torch.randn(full.numel, dtype=DT)
    flat = full.flat_params() + 0.1 * v
    torch.testing.assert_close(chunked.loss(batch), full.loss(batch), rtol=1e-13, atol=0)
    torch.testing.assert_close(chunked.loss(batch, flat), full.loss(batch, flat))
    for a, b in zip(chunked.loss_and_grad(batch), full.loss_and_grad(batch), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(chunked.hvp(batch, v), full.hvp(batch, v), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(
        chunked.ggnvp(batch, v), full.ggnvp(batch, v), rtol=1e-12, atol=1e-14
    )


def test_gradient_matches_reference_and_flat_round_trip() -> None:
    model, batch = make("cnn-tanh")
    obj = Objective(model)
    flat = obj.flat_params()
    loss, g = obj.loss_and_grad(batch)
    ref_loss, _ = reference_fns(model, batch)
    torch.testing.assert_close(g, jacobian(ref_loss, flat))
    torch.testing.assert_close(loss, ref_loss(flat))
    assert not loss.requires_grad and not g.requires_grad
    new = torch.randn_like(flat)
    obj.set_flat_params(new)
    assert torch.equal(obj.flat_params(), new)
    assert torch.equal(torch.nn.utils.parameters_to_vector(model.parameters()), new)
    torch.testing.assert_close(obj.loss(batch), ref_loss(new))
    torch.testing.assert_close(obj.loss(batch, flat), ref_loss(flat))


def test_batchnorm_running_stats_update_only_in_training_forward() -> None:
    model, batch = make("cnn-bn", n=10)
    bn = model[1]
    obj = Objective(model, chunk_size=4)
    v = torch.randn(obj.numel, dtype=DT)
    before = bn_state(model)
    obj.hvp(batch, v)
    obj.ggnvp(batch, v)
    obj.loss(batch)
    obj.loss(batch, obj.flat_params() + v)
    obj.loss_and_grad(batch, update_batchnorm=False)
    for b0, b1 in zip(before, model.buffers(), strict=True):
        assert torch.equal(b0, b1)
    assert bn.track_running_stats
    obj.loss_and_grad(batch)  # chunked training forward: one update, from the first chunk
    assert int(bn.num_batches_tracked) == 1
    first = batch[0][:4]
    with torch.no_grad():
        conv_out = model[0](first)
    expected = 0.9 * before[0] + 0.1 * conv_out.mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn.running_mean, expected)


def test_frozen_batchnorm_stats_restores_after_exception() -> None:
    model, _ = make("mlp-bn")
    model[1].eval()  # eval-mode modules are left alone
    model[0].train()
    with pytest.raises(RuntimeError), frozen_batchnorm_stats(model):
        raise RuntimeError("boom")
    assert model[1].track_running_stats
    model.train()
    with frozen_batchnorm_stats(model):
        assert not model[1].track_running_stats
    assert model[1].track_running_stats


def test_counters() -> None:
    model, batch = make("mlp-tanh", n=6)
    counters = CostCounters()
    obj = Objective(model, counters=counters, chunk_size=4)
    v = torch.randn(obj.numel, dtype=DT)
    obj.loss(batch)
    obj.loss_and_grad(batch)
    obj.curvature_product("hessian", batch, v)
    obj.curvature_product("gauss-newton", batch, v)
    assert counters.as_dict() == {
        **CostCounters().as_dict(),
        "forward_samples": 6 + 6 + 6 + 2 * 6,  # GGN products run the model forward twice
        "gradient_samples": 6,
        "curvature_products": 2,
        "curvature_samples": 12,
    }
    with pytest.raises(ValueError, match="unknown curvature"):
        obj.curvature_product("fisher", batch, v)


def test_frozen_parameters_are_excluded() -> None:
    model, batch = make("mlp-tanh")
    model[0].weight.requires_grad_(False)
    obj = Objective(model)
    assert obj.numel == sum(p.numel() for p in model.parameters() if p.requires_grad)
    v = torch.randn(obj.numel, dtype=DT)
    assert obj.hvp(batch, v).shape == (obj.numel,)
    assert obj.loss_and_grad(batch)[1].shape == (obj.numel,)


@pytest.mark.parametrize(
    "name", ["lenet", "alexnet", pytest.param("resnet18", marks=pytest.mark.slow)]
)
def test_products_on_real_models(name: str) -> None:
    """Smoke test on the study's models (train mode, float32): runs, symmetric, BN untouched."""
    models = pytest.importorskip("secondorder.models")
    torch.manual_seed(0)
    model = models.build_model(name, in_channels=3, image_size=32, num_classes=10)
    model.train()
    obj = Objective(model)
    batch = (torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,)))
    before = bn_state(model)
    assert (name == "resnet18") == any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()
    )
    u, v = torch.randn(2, obj.numel)
    hu, hv = obj.hvp(batch, u), obj.hvp(batch, v)
    torch.testing.assert_close(u.dot(hv), v.dot(hu), rtol=1e-3, atol=1e-3)
    gu, gv = obj.ggnvp(batch, u), obj.ggnvp(batch, v)
    torch.testing.assert_close(u.dot(gv), v.dot(gu), rtol=1e-3, atol=1e-3)
    assert u.dot(gu) >= -1e-4 * u.dot(u)
    for b0, b1 in zip(before, model.buffers(), strict=True):
        assert torch.equal(b0, b1)
