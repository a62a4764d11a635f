"""A prepared bundle resident on the training device, and the indices that training draws.

:func:`load` reads a bundle (checked by :func:`~secondorder.data.bundle.read_bundle`), takes
stratified subsets and a stratified validation split, normalises with the full training set's
per-channel mean/std and returns float32 tensors on the training device (:class:`InMemoryData`),
so training needs no DataLoader. Batches are then drawn on the device with
:func:`epoch_permutation` / :func:`sample_indices`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from secondorder.data.bundle import read_bundle
from secondorder.errors import ConfigError
from secondorder.spec import EVALUATION_SETS, holdout_size

VALIDATION_SEED = 1  # the validation split's draw; subsets use seed 0


@dataclass
class InMemoryData:
    """A dataset resident on one device: x normalised float32 (N, C, H, W), y int64 (N,)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    in_channels: int
    image_size: int
    meta: dict


def load(
    bundle: str | os.PathLike,
    device: str | torch.device,
    *,
    train_subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
    holdout: int | float | None = None,
    evaluate_on: str = "test",
) -> InMemoryData:
    """Load a bundle onto ``device`` as normalised float32, optionally stratified subsets.

    Subsets are :func:`stratified_indices` with ``seed`` (the same seed for train and test).
    Normalisation always uses the per-channel mean/std of the *full* training set, so a subset
    does not change the input scaling.

    ``holdout`` (a count, or a fraction of the training subset) carves a stratified validation
    split out of the training subset (:func:`split_validation`); the training tensors are the
    rest. With ``evaluate_on="validation"`` the split takes the place of the test set (``x_test``,
    ``y_test``) and the bundle's test set is dropped unread: a tuning run never sees it.
    """
    bundle = Path(bundle)
    obj = read_bundle(bundle)
    meta = obj["meta"]
    x_train, y_train = _subset(obj["x_train"], obj["y_train"], train_subset, seed, "train_subset")
    if evaluate_on not in EVALUATION_SETS:
        raise ConfigError(f"evaluate_on must be one of {EVALUATION_SETS}, got {evaluate_on!r}")
    if evaluate_on == "validation" and holdout is None:
        raise ConfigError("evaluate_on='validation' needs a holdout (the validation split)")
    if holdout is not None:
        train_idx, validation_idx = split_validation(y_train, holdout)
        x_val, y_val = x_train[validation_idx], y_train[validation_idx]
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    if evaluate_on == "validation":
        x_test, y_test = x_val, y_val
        del obj["x_test"], obj["y_test"]
    else:
        x_test, y_test = _subset(obj["x_test"], obj["y_test"], test_subset, seed, "test_subset")
    channels = x_train.shape[1]
    mean = torch.tensor(meta["train_mean"], dtype=torch.float32, device=device)
    std = torch.tensor(meta["train_std"], dtype=torch.float32, device=device)

    def normalise(x: torch.Tensor) -> torch.Tensor:
        x = x.to(device=device, dtype=torch.float32).div_(255.0)
        return x.sub_(mean.view(1, channels, 1, 1)).div_(std.view(1, channels, 1, 1))

    meta = dict(
        meta,
        bundle=str(bundle),
        train_subset=train_subset,
        test_subset=None if evaluate_on == "validation" else test_subset,
        subset_seed=seed,
        holdout=holdout,
        evaluated_on=evaluate_on,
    )
    return InMemoryData(
        name=meta["name"],
        x_train=normalise(x_train),
        y_train=y_train.to(device),
        x_test=normalise(x_test),
        y_test=y_test.to(device),
        num_classes=int(meta["num_classes"]),
        in_channels=int(channels),
        image_size=int(x_train.shape[2]),
        meta=meta,
    )


def _subset(
    x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int, what: str
) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None:
        return x, y
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= y.numel():
        raise ConfigError(f"{what} must be an integer in 1..{y.numel()} (or null), got {n!r}")
    idx = stratified_indices(y, n, seed)
    return x[idx], y[idx]


def split_validation(
    labels: torch.Tensor, holdout: int | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, validation indices) of a training set with ``labels``: a stratified
    validation split of ``holdout`` samples (or that fraction of them, rounded, at least 1),
    the same for every run, and the rest for training (both sorted)."""
    total = labels.numel()
    holdout = holdout_size(holdout, total)
    if isinstance(holdout, bool) or not isinstance(holdout, int) or not 0 < holdout < total:
        raise ConfigError(f"holdout must leave training samples: 1..{total - 1}, got {holdout!r}")
    validation = stratified_indices(labels, holdout, VALIDATION_SEED)
    keep = torch.ones(total, dtype=torch.bool)
    keep[validation] = False
    return torch.nonzero(keep).squeeze(1), validation


def stratified_indices(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` sorted indices into ``labels``, each class in proportion to its share (within 1).

    Per-class quotas use the largest-remainder rule (ties go to the smaller class id); which
    samples of a class are taken is random but fixed by ``seed`` (CPU generator).
    """
    labels = labels.detach().cpu()
    total = labels.numel()
    if not 0 < n <= total:
        raise ConfigError(f"subset size must be in 1..{total}, got {n}")
    counts = torch.bincount(labels).tolist()  # labels are class ids 0..K-1
    members = torch.argsort(labels, stable=True).split(counts)
    take = [c * n // total for c in counts]
    remainders = [c * n % total for c in counts]
    order = sorted(range(len(counts)), key=lambda i: (-remainders[i], i))
    for i in order[: n - sum(take)]:
        take[i] += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = [
        idx[torch.randperm(idx.numel(), generator=generator)[:k]]
        for idx, k in zip(members, take, strict=True)
    ]
    return torch.sort(torch.cat(chosen)).values


def _check_generator(generator: torch.Generator, device: str | torch.device) -> torch.device:
    device = torch.device(device)
    if generator.device.type != device.type:
        raise ValueError(
            f"generator lives on {generator.device} but indices are drawn on {device};"
            f" create it with torch.Generator(device={str(device)!r})"
        )
    return device


def sample_indices(
    n_total: int, k: int, generator: torch.Generator, device: str | torch.device
) -> torch.Tensor:
    """``k`` distinct random indices in ``0..n_total-1``, drawn on ``device``.

    ``generator`` must live on the same device (``torch.Generator(device=device)``), so that no
    host-device transfer or sync happens; the stream of indices then depends on the device type.
    """
    if not 0 <= k <= n_total:
        raise ValueError(f"cannot draw {k} distinct indices out of {n_total}")
    device = _check_generator(generator, device)
    return torch.randperm(n_total, generator=generator, device=device)[:k]


def epoch_permutation(
    n_total: int, generator: torch.Generator, device: str | torch.device
) -> torch.Tensor:
    """A random permutation of ``0..n_total-1`` on ``device`` (generator on the same device)."""
    device = _check_generator(generator, device)
    return torch.randperm(n_total, generator=generator, device=device)
