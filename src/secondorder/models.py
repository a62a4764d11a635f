"""The paper's three CNNs: LeNet5, its "AlexNet" and ResNet-18 (the paper's DRN), and the
ResNet-20 that the authors' reply names instead (a variant of the DRN).

Every model takes the activation as an argument ("tanh", the paper's default, or "relu" for the
ablations of Figures 9-10) and its input shape and class count from the dataset. Forward passes
are pure functions of parameters and input (no in-place operations, activations with
``inplace=False``), so the models work with ``torch.func.functional_call``, ``jvp`` and ``grad``;
the only state a forward changes is BatchNorm's running statistics (the residual networks,
training mode). Initialisation is PyTorch's default, deterministic under ``torch.manual_seed``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from secondorder.errors import ConfigError

MODELS = ("lenet", "alexnet", "resnet18")
ACTIVATIONS = ("tanh", "relu")
_VARIANTS = {
    "lenet": ("standard",),
    "alexnet": ("standard", "residual"),
    "resnet18": ("standard", "narrow", "resnet20"),
}
NARROW_WIDTH = 16  # base width of resnet18's "narrow" variant (standard: 64)


def model_variants(name: str) -> tuple[str, ...]:
    """The architecture variants of model ``name``: "standard", plus "residual" for alexnet and
    "narrow" and "resnet20" for resnet18 (the DRN: the paper's ResNet-18, a CPU-sized shrink of
    it, or the ResNet-20 of the authors' reply)."""
    _check_choice("model", name, MODELS)
    return _VARIANTS[name]


def _check_choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")


def _activation(name: str) -> nn.Module:
    return nn.Tanh() if name == "tanh" else nn.ReLU(inplace=False)


class LeNet5(nn.Module):
    """Caffe's LeNet (the paper: "2 convolutional layers with 20 and 50 5x5 filters").

    conv 5x5 x20 -> act -> maxpool 2 -> conv 5x5 x50 -> act -> maxpool 2 -> fc 500 -> act ->
    fc num_classes. Caffe's version has no activation after the convolutions; we put one there,
    as LeCun's LeNet5 does. On MNIST this has 431,080 parameters.
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int, activation: str):
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ConfigError(f"image_size {image_size} is too small for lenet (needs >= 16)")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 20, 5),
            _activation(activation),
            nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5),
            _activation(activation),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(50 * side * side, 500),
            _activation(activation),
            nn.Linear(500, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class ResidualBlock5x5(nn.Module):
    """act(x + conv(act(conv(x)))): two 5x5 'same' convolutions and an identity link, no BN."""

    def __init__(self, channels: int, activation: str):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 5, padding=2)
        self.act1 = _activation(activation)
        self.conv2 = nn.Conv2d(channels, channels, 5, padding=2)
        self.act2 = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.conv2(self.act1(self.conv1(x))))


class AlexNet(nn.Module):
    """The paper's "AlexNet": 3 conv layers with 64, 64, 128 filters of 5x5, then 3 fc layers.

    The paper gives only the convolutions. We complete them as in cuda-convnet's CIFAR-10 nets
    and the TensorFlow CIFAR-10 tutorial that Krizhevsky's small AlexNet is known by: each conv
    (padding 2) is followed by the activation and 3x3 stride-2 max pooling (padding 1, so
    32 -> 16 -> 8 -> 4 and 28 -> 14 -> 7 -> 4), then fully connected 384 -> act -> 192 -> act ->
    num_classes. No local response normalisation and no dropout (neither is in the paper's
    description, and dropout would make curvature products stochastic).

    ``variant="residual"`` (paper, Figure 11: "substitute the last convolutional layer ... with
    a single residual block ... tanh is used ... and we keep the identity link"): the third
    conv (64 -> 128) becomes :class:`ResidualBlock5x5` at 64 channels, i.e. two 5x5 convs
    64 -> 64 -> 64 with a parameter-free identity link, followed by the same pooling; the first
    fc layer then takes 64 * 4 * 4 inputs instead of 128 * 4 * 4. A true identity needs equal
    input and output widths; the alternatives were rejected because a 1x1 projection shortcut
    is not an identity link (it has weights and curvature), and keeping 128 channels needs
    either such a projection or an extra conv in front of the block. The block keeps the conv
    parameter count exactly (2 * (64*64*25 + 64) = 128*64*25 + 128 = 204,928); only fc1
    shrinks (786,816 -> 393,600 parameters).
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        activation: str,
        variant: str = "standard",
    ):
        super().__init__()
        side = image_size
        for _ in range(3):
            side = (side - 1) // 2 + 1  # MaxPool2d(3, stride=2, padding=1)

        def pool() -> nn.Module:
            return nn.MaxPool2d(3, stride=2, padding=1)

        if variant == "residual":
            last: list[nn.Module] = [ResidualBlock5x5(64, activation)]
            width = 64
        else:
            last = [nn.Conv2d(64, 128, 5, padding=2), _activation(activation)]
            width = 128
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 5, padding=2),
            _activation(activation),
            pool(),
            nn.Conv2d(64, 64, 5, padding=2),
            _activation(activation),
            pool(),
            *last,
            pool(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(width * side * side, 384),
            _activation(activation),
            nn.Linear(384, 192),
            _activation(activation),
            nn.Linear(192, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class ZeroPadShortcut(nn.Module):
    """He et al.'s (2016) option A shortcut: the identity, subsampled by ``stride`` and padded
    with ``extra_channels`` zero channels; parameter-free, so the net keeps its plain twin's
    weights and the link adds no curvature of its own."""

    def __init__(self, extra_channels: int, stride: int):
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class BasicBlock(nn.Module):
    """He et al. (2016) basic block: two 3x3 conv+BN, and an identity shortcut where the shape is
    kept; where it changes, a 1x1 conv+BN projection (``shortcut="projection"``, ResNet-18) or
    the zero-padded identity (``"zero-pad"``, ResNet-20)."""

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int,
        activation: str,
        shortcut: str = "projection",
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = _activation(activation)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = _activation(activation)
        self.shortcut: nn.Module = nn.Sequential()
        if stride == 1 and in_planes == planes:
            pass  # the identity
        elif shortcut == "zero-pad":
            self.shortcut = ZeroPadShortcut(planes - in_planes, stride)
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(out)) + self.shortcut(x))


class _CifarResNet(nn.Module):
    """The CIFAR form of He et al.'s (2016) residual networks: a 3x3 stem conv (the first stage's
    width) + BN + act, no max-pool; stages of basic blocks (stride 2 at the first block of every
    stage but the first); global average pooling; fc."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        activation: str,
        widths: tuple[int, ...],
        blocks_per_stage: int,
        shortcut: str,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.act = _activation(activation)
        blocks: list[nn.Module] = []
        in_planes = widths[0]
        for stage, planes in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride, activation, shortcut))
                in_planes = planes
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.act(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(out), 1))


class ResNet18(_CifarResNet):
    """ResNet-18 (the paper's DRN) in the common CIFAR form of He et al. (2016).

    3x3 stem conv (64) + BN + act, no max-pool; four stages of two basic blocks with 64, 128,
    256, 512 channels (stride 2 at stages 2-4, projection shortcuts there); global average
    pooling; fc. 11,173,962 parameters on CIFAR-10.

    ``width`` is the base width (64). The "narrow" variant (width 16: 16, 32, 64, 128 channels,
    701,466 parameters on CIFAR-10) is a shrink for CPU-scale studies, not the paper's network:
    full width costs seconds per SGD step and minutes per SHG step on a laptop CPU.
    """

    def __init__(self, in_channels: int, num_classes: int, activation: str, width: int = 64):
        widths = (width, 2 * width, 4 * width, 8 * width)
        super().__init__(in_channels, num_classes, activation, widths, 2, "projection")


class ResNet20(_CifarResNet):
    """ResNet-20 of He et al. (2016), section 4.2: the DRN of the authors' reply to the
    reviewers ("residual network 20-layer"), where the paper's text says an 18-layer DRN.

    3x3 stem conv (16) + BN + act; three stages of n = 3 basic blocks with 16, 32, 64 channels
    (feature maps 32, 16, 8 on CIFAR-10; stride 2 at the first conv of stages 2-3); global
    average pooling; fc: 6n + 2 = 20 weighted layers. Every shortcut is an identity, zero-padded
    where the width doubles (He et al.'s option A for CIFAR-10), so the net has exactly the
    parameters of its plain twin: 269,722 on CIFAR-10 (He et al.: 0.27M). The variant
    "resnet20" of model resnet18 (the DRN's slot in the study).
    """

    def __init__(self, in_channels: int, num_classes: int, activation: str):
        super().__init__(in_channels, num_classes, activation, (16, 32, 64), 3, "zero-pad")


def build_model(
    name: str,
    *,
    in_channels: int,
    image_size: int,
    num_classes: int,
    activation: str = "tanh",
    variant: str = "standard",
) -> nn.Module:
    """Build model ``name`` for (in_channels, image_size, image_size) inputs and num_classes.

    Unknown names, activations or variants raise :class:`ConfigError` naming the allowed values.
    """
    _check_choice("model", name, MODELS)
    _check_choice("activation", activation, ACTIVATIONS)
    _check_choice(f"variant for {name}", variant, _VARIANTS[name])
    for key, value in (
        ("in_channels", in_channels),
        ("image_size", image_size),
        ("num_classes", num_classes),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    if name == "lenet":
        return LeNet5(in_channels, image_size, num_classes, activation)
    if name == "alexnet":
        return AlexNet(in_channels, image_size, num_classes, activation, variant)
    if variant == "resnet20":
        return ResNet20(in_channels, num_classes, activation)
    width = NARROW_WIDTH if variant == "narrow" else 64
    return ResNet18(in_channels, num_classes, activation, width)
