"""Tests of secondorder.models: shapes, exact parameter counts, the residual variants, torch.func,
and a training step of ResNet-20 through the Objective's curvature products."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp

from secondorder import models
from secondorder.curvature import Objective
from secondorder.errors import ConfigError
from secondorder.optim.shg import SHG

SHAPES = {"mnist": (1, 28), "cifar10": (3, 32)}
CONFIGS = [
    (name, activation, variant)
    for name in models.MODELS
    for variant in models.model_variants(name)
    for activation in models.ACTIVATIONS
]


def build(
    name: str, dataset: str, activation: str = "tanh", variant: str = "standard"
) -> nn.Module:
    channels, size = SHAPES[dataset]
    return models.build_model(
        name,
        in_channels=channels,
        image_size=size,
        num_classes=10,
        activation=activation,
        variant=variant,
    )


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def bn(c: int) -> int:
    return 2 * c  # weight and bias


@pytest.mark.parametrize("dataset", SHAPES)
@pytest.mark.parametrize(("name", "activation", "variant"), CONFIGS)
def test_output_shape(name: str, activation: str, variant: str, dataset: str) -> None:
    torch.manual_seed(0)
    model = build(name, dataset, activation, variant)
    channels, size = SHAPES[dataset]
    out = model(torch.randn(3, channels, size, size))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    acts = {type(m) for m in model.modules() if isinstance(m, nn.Tanh | nn.ReLU)}
    assert acts == {nn.Tanh if activation == "tanh" else nn.ReLU}
    assert all(not m.inplace for m in model.modules() if isinstance(m, nn.ReLU))


def test_lenet_parameter_counts() -> None:
    # MNIST: 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4: fc1 sees 50*4*4 = 800 inputs.
    assert conv(1, 20, 5) == 520 and conv(20, 50, 5) == 25_050
    assert fc(800, 500) == 400_500 and fc(500, 10) == 5_010
    assert n_params(build("lenet", "mnist")) == 520 + 25_050 + 400_500 + 5_010 == 431_080
    # CIFAR-10: 32 -> 28 -> 14 -> 10 -> 5: fc1 sees 50*5*5 = 1250 inputs.
    expected = conv(3, 20, 5) + conv(20, 50, 5) + fc(1250, 500) + fc(500, 10)
    assert n_params(build("lenet", "cifar10")) == 1_520 + 25_050 + 625_500 + 5_010 == expected


@pytest.mark.parametrize("dataset", SHAPES)
def test_alexnet_parameter_counts(dataset: str) -> None:
    channels, _ = SHAPES[dataset]
    # Pooling 3x3/2 pad 1 three times: 32 -> 16 -> 8 -> 4 and 28 -> 14 -> 7 -> 4.
    head = fc(384, 192) + fc(192, 10)  # 73,920 + 1,930
    standard = conv(channels, 64, 5) + conv(64, 64, 5) + conv(64, 128, 5) + fc(128 * 16, 384)
    assert n_params(build("alexnet", dataset)) == standard + head
    # residual: conv3 (64->128) becomes two 64->64 convs (same count, 204,928), fc1 gets 64*16.
    assert 2 * conv(64, 64, 5) == conv(64, 128, 5) == 204_928
    residual = conv(channels, 64, 5) + conv(64, 64, 5) + 2 * conv(64, 64, 5) + fc(64 * 16, 384)
    assert n_params(build("alexnet", dataset, variant="residual")) == residual + head
    assert {"mnist": 1_171_722, "cifar10": 1_174_922}[dataset] == standard + head


@pytest.mark.parametrize("dataset", SHAPES)
@pytest.mark.parametrize(("variant", "w"), [("standard", 64), ("narrow", 16)])
def test_resnet18_parameter_count(dataset: str, variant: str, w: int) -> None:
    channels, _ = SHAPES[dataset]

    def block(c_in: int, c_out: int) -> int:
        body = conv(c_in, c_out, 3, bias=False) + bn(c_out) + conv(c_out, c_out, 3, bias=False)
        projection = conv(c_in, c_out, 1, bias=False) + bn(c_out) if c_in != c_out else 0
        return body + bn(c_out) + projection

    stem = conv(channels, w, 3, bias=False) + bn(w)
    widths = ((w, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w))
    stages = sum(block(a, b) + block(b, b) for a, b in widths)
    expected = stem + stages + fc(8 * w, 10)
    assert n_params(build("resnet18", dataset, activation="relu", variant=variant)) == expected
    if dataset == "cifar10":  # the usual "11.17M" of CIFAR ResNet-18; narrow: 0.70M
        assert expected == {"standard": 11_173_962, "narrow": 701_466}[variant]
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in build("resnet18", dataset).modules())
    assert n_bn == 1 + 8 * 2 + 3


@pytest.mark.parametrize("dataset", SHAPES)
def test_resnet20_parameter_count(dataset: str) -> None:
    """He et al. (2016), section 4.2: 6n + 2 = 20 weighted layers (n = 3), 16/32/64 channels,
    identity shortcuts (zero-padded where the width doubles): 0.27M parameters."""
    channels, _ = SHAPES[dataset]
    model = build("resnet18", dataset, variant="resnet20")

    def stage(c_in: int, c_out: int) -> int:  # 3 blocks of two 3x3 conv + BN, no projection
        first = conv(c_in, c_out, 3, bias=False) + conv(c_out, c_out, 3, bias=False)
        return first + 4 * conv(c_out, c_out, 3, bias=False) + 6 * bn(c_out)

    stem = conv(channels, 16, 3, bias=False) + bn(16)
    expected = stem + stage(16, 16) + stage(16, 32) + stage(32, 64) + fc(64, 10)
    assert n_params(model) == expected
    if dataset == "cifar10":
        assert expected == 269_722  # He et al.'s Table 6: 0.27M
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 20
    assert all(c.kernel_size == (3, 3) for c in convs)  # no 1x1 projection shortcuts
    assert sorted({c.out_channels for c in convs}) == [16, 32, 64]
    assert [c.stride for c in convs if c.stride != (1, 1)] == [(2, 2), (2, 2)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 1 + 9 * 2


def test_zero_pad_shortcut_is_a_subsampled_identity() -> None:
    shortcut = models.ZeroPadShortcut(extra_channels=16, stride=2)
    x = torch.randn(2, 16, 7, 7)
    out = shortcut(x)
    assert out.shape == (2, 32, 4, 4)  # the shape of a 3x3, stride-2, padding-1 convolution
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert torch.equal(out[:, 16:], torch.zeros(2, 16, 4, 4))
    assert not list(shortcut.parameters())


@pytest.mark.parametrize("activation", models.ACTIVATIONS)
def test_resnet20_trains_through_curvature_products(activation: str) -> None:
    """As for ResNet-18 (train mode, BatchNorm): curvature products are symmetric and leave the
    running statistics alone; SHG with 10 CG steps (the authors' setting) lowers the loss and
    updates the running statistics once per step."""
    torch.manual_seed(0)  # 16x16 images: the same network at a quarter of MNIST's cost
    model = models.build_model(
        "resnet18",
        in_channels=1,
        image_size=16,
        num_classes=10,
        activation=activation,
        variant="resnet20",
    )
    model.train()
    objective = Objective(model)
    x, y = torch.randn(16, 1, 16, 16), torch.randint(0, 10, (16,))
    before = [b.clone() for b in model.buffers()]
    u, v = torch.randn(2, objective.numel)
    hu, hv = objective.hvp((x, y), u), objective.hvp((x, y), v)
    torch.testing.assert_close(u.dot(hv), v.dot(hu), rtol=1e-3, atol=1e-3)
    assert all(torch.equal(b0, b1) for b0, b1 in zip(before, model.buffers(), strict=True))
    opt = SHG(model.parameters(), cg_max_iter=10)
    losses = [float(opt.step(objective, (x, y), (x[:8], y[:8]))) for _ in range(2)]
    assert losses[-1] < losses[0]
    tracked = [int(b) for n, b in model.named_buffers() if n.endswith("num_batches_tracked")]
    assert tracked and all(t == 2 for t in tracked)


@pytest.mark.parametrize("activation", models.ACTIVATIONS)
def test_residual_block_is_an_identity_link(activation: str) -> None:
    torch.manual_seed(0)
    model = build("alexnet", "cifar10", activation, "residual")
    (block,) = [m for m in model.modules() if isinstance(m, models.ResidualBlock5x5)]
    for c in (block.conv1, block.conv2):
        assert c.kernel_size == (5, 5) and c.in_channels == c.out_channels == 64
    act = torch.tanh if activation == "tanh" else torch.relu
    x = torch.randn(2, 64, 8, 8)
    assert not torch.allclose(block(x), act(x))
    with torch.no_grad():
        for c in (block.conv1, block.conv2):
            c.weight.zero_()
            c.bias.zero_()
    assert torch.equal(block(x), act(x))  # only the identity link is left
    # ... and the block sits between the second pooling and the last pooling of the model
    images = torch.randn(2, 3, 32, 32)
    index = list(model.features).index(block)
    h = model.features[:index](images)
    expected = model.classifier(torch.flatten(model.features[index + 1 :](act(h)), 1))
    assert torch.equal(model(images), expected)


def test_standard_alexnet_layers() -> None:
    model = build("alexnet", "cifar10")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (64, (5, 5), (2, 2)),
        (64, (5, 5), (2, 2)),
        (128, (5, 5), (2, 2)),
    ]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2)] * 3
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [lin.out_features for lin in linears] == [384, 192, 10]


@pytest.mark.parametrize("name", models.MODELS)
def test_deterministic_initialisation(name: str) -> None:
    torch.manual_seed(123)
    a = build(name, "mnist")
    torch.manual_seed(123)
    b = build(name, "mnist")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize(
    ("name", "variant"),
    [("lenet", "standard"), ("alexnet", "standard"), ("alexnet", "residual")],
)
def test_torch_func_hessian_vector_product(name: str, variant: str) -> None:
    """Forward-over-reverse (what the curvature module does) works and matches autograd."""
    torch.manual_seed(0)
    model = build(name, "mnist", variant=variant)
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    params = {k: p.detach() for k, p in model.named_parameters()}
    v = {k: torch.randn_like(p) for k, p in params.items()}

    def loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, p, (x,)), y)

    _, hv = jvp(grad(loss), (params,), (v,))
    g = torch.autograd.grad(
        F.cross_entropy(model(x), y), list(model.parameters()), create_graph=True
    )
    dot = sum((gi * v[k]).sum() for gi, k in zip(g, params, strict=True))
    reference = torch.autograd.grad(dot, list(model.parameters()))
    for k, r in zip(params, reference, strict=True):
        torch.testing.assert_close(hv[k], r, rtol=1e-4, atol=1e-6)


def test_resnet18_functional_call_and_batchnorm_state() -> None:
    torch.manual_seed(0)
    model = build("resnet18", "cifar10", activation="relu")
    x = torch.randn(4, 3, 32, 32)
    params = dict(model.named_parameters())
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    out = functional_call(model, (params, buffers), (x,))
    assert out.shape == (4, 10)
    # training mode: the only state a forward changes is BatchNorm's running statistics
    assert not torch.equal(buffers["bn1.running_mean"], model.bn1.running_mean)
    model.eval()
    before = {k: b.clone() for k, b in model.named_buffers()}
    model(x)
    assert all(torch.equal(before[k], b) for k, b in model.named_buffers())


def test_unknown_names_raise_config_error() -> None:
    kw = {"in_channels": 1, "image_size": 28, "num_classes": 10}
    cases = [
        ({"name": "vgg"}, "unknown model 'vgg'; allowed: lenet, alexnet, resnet18"),
        ({"name": "lenet", "activation": "gelu"}, "unknown activation 'gelu'; allowed: tanh, relu"),
        ({"name": "lenet", "variant": "residual"}, "allowed: standard$"),
        ({"name": "resnet18", "variant": "wide"}, "variant for resnet18 'wide'"),
    ]
    for extra, message in cases:
        args = {**kw, **extra}
        name = args.pop("name")
        with pytest.raises(ConfigError, match=message):
            models.build_model(name, **args)
    with pytest.raises(ConfigError, match="in_channels"):
        models.build_model("lenet", in_channels=0, image_size=28, num_classes=10)
    with pytest.raises(ConfigError, match="too small"):
        models.build_model("lenet", in_channels=1, image_size=8, num_classes=10)
    with pytest.raises(ConfigError, match="unknown model"):
        models.model_variants("vgg")


def test_model_variants() -> None:
    assert models.model_variants("alexnet") == ("standard", "residual")
    assert models.model_variants("resnet18") == ("standard", "narrow", "resnet20")
    assert models.model_variants("lenet") == ("standard",)
    assert len(CONFIGS) == 6 * len(models.ACTIVATIONS)  # lenet, 2 alexnets, 3 DRNs
