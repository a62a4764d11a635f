"""The mini-batch loss as a function of the trainable parameters, with curvature products.

:class:`Objective` is what every optimizer works on: flat parameter vectors, the loss, the
training gradient, and Hessian- and Gauss-Newton-vector products computed with ``torch.func``
(forward-over-reverse, the fastest and leanest way to get them in PyTorch).

BatchNorm: every evaluation here except the training forward of :meth:`Objective.loss_and_grad`
normalises with the statistics of its own batch (in train mode) but never touches the running
statistics, so curvature products and line-search trials leave the model as SGD would. In eval
mode the running statistics are used, as in any eval forward. Dropout in train mode draws a new
mask at every forward, which makes curvature products inconsistent; use models without it (or in
eval mode) with curvature methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp, vjp
from torch.nn.modules.batchnorm import _BatchNorm

from secondorder.cost import CostCounters

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
CURVATURES = ("hessian", "gauss-newton")


@contextmanager
def frozen_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """Make train-mode BatchNorm use batch statistics without updating its running statistics.

    ``_BatchNorm.forward`` passes no running statistics (so updates neither them nor
    ``num_batches_tracked``) when ``track_running_stats`` is False in train mode; this also makes
    the forward a pure function that ``torch.func`` transforms accept. Restored on exit, also
    after an exception. Eval-mode modules are left alone (they read their running statistics).
    """
    changed = [
        m
        for m in model.modules()
        if isinstance(m, _BatchNorm) and m.training and m.track_running_stats
    ]
    for m in changed:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in changed:
            m.track_running_stats = True


class Objective:
    """Loss of ``model`` on a batch as a function of its trainable parameters.

    Flat vectors hold all parameters with ``requires_grad=True`` in ``model.parameters()`` order.
    ``loss_fn(output, target)`` must be a mean over the batch; it sees only the model output, so a
    penalty on the parameters (weight decay) belongs in the model's forward, where curvature
    products and line-search trials see it too. A batch larger than ``chunk_size`` is processed in
    chunks whose results are combined weighted by chunk size, which is then exact (with BatchNorm
    each chunk uses its own batch statistics). Work is counted on ``counters`` from batch sizes
    known on the host, so counting never synchronises with the device: ``forward_samples`` for
    every model forward (a Gauss-Newton product runs two), ``gradient_samples`` for training
    gradients, ``curvature_products``/``curvature_samples`` for every product (``hvp`` and
    ``ggnvp`` count themselves, so calling them directly is counted too).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn = F.cross_entropy,
        *,
        chunk_size: int | None = None,
        counters: CostCounters | None = None,
    ) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size}")
        self.model = model
        self.loss_fn = loss_fn
        self.chunk_size = chunk_size
        self.counters = counters if counters is not None else CostCounters()
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self._names = [n for n, _ in named]
        self.params: list[Tensor] = [p for _, p in named]
        self._shapes = [p.shape for p in self.params]
        self._numels = [p.numel() for p in self.params]
        self.numel = sum(self._numels)

    # ----------------------------------------------------------------------- flat vectors
    def flat_params(self) -> Tensor:
        """A copy of the current parameters as one flat vector."""
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def set_flat_params(self, flat: Tensor) -> None:
        """Write ``flat`` into the live parameters (outside autograd)."""
        with torch.no_grad():
            for p, chunk in zip(self.params, self._unflatten(flat), strict=True):
                p.copy_(chunk)

    def _unflatten(self, flat: Tensor) -> tuple[Tensor, ...]:
        if flat.shape != (self.numel,):
            raise ValueError(f"expected a flat vector of {self.numel} elements, got {flat.shape}")
        return tuple(
            c.view(s) for c, s in zip(torch.split(flat, self._numels), self._shapes, strict=True)
        )

    def _flatten(self, tensors: tuple[Tensor, ...] | list[Tensor]) -> Tensor:
        return torch.cat([t.reshape(-1) for t in tensors])

    # ------------------------------------------------------------------ functional pieces
    def _buffers(self) -> dict[str, Tensor]:
        return dict(self.model.named_buffers())

    def _output(self, params: tuple[Tensor, ...], x: Tensor) -> Tensor:
        state = {**self._buffers(), **dict(zip(self._names, params, strict=True))}
        return functional_call(self.model, state, (x,))

    def _chunks(self, batch: Batch) -> Iterator[tuple[Tensor, Tensor, float]]:
        """Yield ``(x, y, weight)`` with weights summing to one (chunk size / batch size)."""
        x, y = batch
        n = x.shape[0]
        size = n if self.chunk_size is None else self.chunk_size
        for start in range(0, n, size):
            stop = min(start + size, n)
            yield x[start:stop], y[start:stop], (stop - start) / n

    @staticmethod
    def _batch_size(batch: Batch) -> int:
        return int(batch[0].shape[0])

    def _primals(self) -> tuple[Tensor, ...]:
        return tuple(p.detach() for p in self.params)

    # ------------------------------------------------------------------------- losses
    def loss(self, batch: Batch, flat: Tensor | None = None) -> Tensor:
        """Scalar loss (detached) at ``flat`` (default: the current parameters) on ``batch``.

        BatchNorm normalises with batch statistics and does not update running statistics.
        """
        params = self._primals() if flat is None else self._unflatten(flat)
        total: Tensor | None = None
        with torch.no_grad(), frozen_batchnorm_stats(self.model):
            for x, y, w in self._chunks(batch):
                term = self.loss_fn(self._output(params, x), y) * w
                total = term if total is None else total + term
        self.counters.forward_samples += self._batch_size(batch)
        assert total is not None, "empty batch"
        return total

    def loss_and_grad(
        self, batch: Batch, *, update_batchnorm: bool = True
    ) -> tuple[Tensor, Tensor]:
        """(loss, flat gradient) at the current parameters: the plain training forward/backward.

        With ``update_batchnorm`` the BatchNorm running statistics update once, as in an SGD
        step (from the first chunk when the batch is chunked); otherwise they stay unchanged.
        """
        loss_total: Tensor | None = None
        grad_total: Tensor | None = None
        for i, (x, y, w) in enumerate(self._chunks(batch)):
            freeze = not update_batchnorm or i > 0
            bn_context = frozen_batchnorm_stats(self.model) if freeze else nullcontext()
            with torch.enable_grad(), bn_context:
                loss = self.loss_fn(self.model(x), y)
                grads = torch.autograd.grad(
                    loss, self.params, allow_unused=True, materialize_grads=True
                )
            flat_grad = self._flatten(grads) * w
            term = loss.detach() * w
            loss_total = term if loss_total is None else loss_total + term
            grad_total = flat_grad if grad_total is None else grad_total + flat_grad
        n = self._batch_size(batch)
        self.counters.forward_samples += n
        self.counters.gradient_samples += n
        assert loss_total is not None and grad_total is not None, "empty batch"
        return loss_total, grad_total

    # --------------------------------------------------------------- curvature products
    def hvp(self, batch: Batch, v: Tensor) -> Tensor:
        """Hessian-vector product H v of the loss on ``batch`` (forward-over-reverse)."""
        tangents = self._unflatten(v)
        primals = self._primals()
        total: Tensor | None = None
        with frozen_batchnorm_stats(self.model):
            for x, y, w in self._chunks(batch):

                def loss_of(params: tuple[Tensor, ...], x: Tensor = x, y: Tensor = y) -> Tensor:
                    return self.loss_fn(self._output(params, x), y)

                _, hv = jvp(grad(loss_of), (primals,), (tangents,))
                term = self._flatten(hv) * w
                total = term if total is None else total + term
        self._count_product(batch, forwards=1)
        assert total is not None, "empty batch"
        return total

    def ggnvp(self, batch: Batch, v: Tensor) -> Tensor:
        """Generalised Gauss-Newton-vector product J^T H_out J v on ``batch``.

        J v by forward mode through the model, H_out (J v) by forward-over-reverse on the loss as
        a function of the model output, then J^T by reverse mode (two forwards of the model).
        """
        tangents = self._unflatten(v)
        primals = self._primals()
        total: Tensor | None = None
        with frozen_batchnorm_stats(self.model):
            for x, y, w in self._chunks(batch):

                def output_of(params: tuple[Tensor, ...], x: Tensor = x) -> Tensor:
                    return self._output(params, x)

                def loss_of_output(out: Tensor, y: Tensor = y) -> Tensor:
                    return self.loss_fn(out, y)

                out, jv = jvp(output_of, (primals,), (tangents,))
                _, hjv = jvp(grad(loss_of_output), (out.detach(),), (jv,))
                _, pullback = vjp(output_of, primals)
                (jthjv,) = pullback(hjv)
                term = self._flatten(jthjv) * w
                total = term if total is None else total + term
        self._count_product(batch, forwards=2)
        assert total is not None, "empty batch"
        return total

    def curvature_product(self, kind: str, batch: Batch, v: Tensor) -> Tensor:
        """B v with B the Hessian (``"hessian"``) or Gauss-Newton matrix (``"gauss-newton"``)."""
        if kind == "hessian":
            return self.hvp(batch, v)
        if kind == "gauss-newton":
            return self.ggnvp(batch, v)
        raise ValueError(f"unknown curvature {kind!r}; allowed: {', '.join(CURVATURES)}")

    def _count_product(self, batch: Batch, *, forwards: int) -> None:
        n = self._batch_size(batch)
        self.counters.curvature_products += 1
        self.counters.curvature_samples += n
        self.counters.forward_samples += forwards * n
