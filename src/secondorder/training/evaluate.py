"""Evaluation at a run's logging points, off the training clock.

A run logs ``logs_per_epoch`` points per epoch (the last at its end), plus one every
``eval_every`` iterations when set (:func:`logging_due`). At each it records the evaluated set's
mean loss and accuracy and, where the spec asks for it (``eval_train_loss``), the mean loss over
the whole training set, beside the running mean of mini-batch losses (:func:`evaluation`). At
its end the final model is evaluated once on the whole training set (:func:`on_training_set`),
so that its training accuracy stands beside its test accuracy. In
eval mode (BatchNorm uses its running statistics, dropout is off), without gradients, in chunks
of :data:`EVAL_CHUNK` samples; the model is back in training mode afterwards.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from secondorder.spec import RunSpec

if TYPE_CHECKING:
    from secondorder.data import InMemoryData

EVAL_CHUNK = 2000  # samples per forward pass


def logging_due(spec: RunSpec, step: int, iteration: int, steps_per_epoch: int) -> bool:
    """Whether a logging point follows the ``step``-th step (from 1) of an epoch, the run's
    ``iteration``-th (``eval_every`` counts over the run: a resumed run logs alike)."""
    interval = max(1, math.ceil(steps_per_epoch / spec.logs_per_epoch))
    every = spec.eval_every
    return (
        step % interval == 0
        or step == steps_per_epoch
        or (every is not None and iteration % every == 0)
    )


def evaluation(model: torch.nn.Module, data: InMemoryData, spec: RunSpec) -> dict[str, float]:
    """The evaluation columns of a metrics row: ``full_train_loss`` (NaN unless the spec's
    ``eval_train_loss``), ``test_loss`` and ``test_accuracy`` (of the evaluated set: the test
    set, or the validation split of a tuning run)."""
    test_loss, test_accuracy = loss_and_accuracy(model, data.x_test, data.y_test)
    train_loss = float("nan")
    if spec.eval_train_loss:
        train_loss, _ = loss_and_accuracy(model, data.x_train, data.y_train)
    return {"full_train_loss": train_loss, "test_loss": test_loss, "test_accuracy": test_accuracy}


def on_training_set(model: torch.nn.Module, data: InMemoryData) -> dict[str, float]:
    """The final model's ``full_train_loss`` and ``train_accuracy`` on the whole training set
    it trained on (a tuning run's: without its validation split), for the record's ``final``:
    the reviewers asked how training and test accuracy compare, and no logging point has a
    training accuracy."""
    loss, accuracy = loss_and_accuracy(model, data.x_train, data.y_train)
    return {"full_train_loss": loss, "train_accuracy": accuracy}


@torch.no_grad()
def loss_and_accuracy(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``(x, y)``, in eval mode."""
    model.eval()
    loss_sum = torch.zeros((), device=x.device, dtype=torch.float64)
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for start in range(0, len(y), EVAL_CHUNK):
        logits = model(x[start : start + EVAL_CHUNK])
        target = y[start : start + EVAL_CHUNK]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    model.train()
    return (loss_sum / len(y)).item(), (correct.double() / len(y)).item()
