"""Datasets: find and validate MNIST and CIFAR-10, bundle them, load them resident on a device.

Two steps, so that the slow, careful part runs once per machine:

* :func:`prepare` reads the standard on-disk files under a data root with the validated readers
  of :mod:`~secondorder.data.sources` (downloading missing ones through torchvision) and writes a
  compact uint8 bundle with its content digest (:mod:`~secondorder.data.bundle`).
* :func:`load` reads a bundle, checks its digest, takes stratified subsets and a validation
  split and returns normalised float32 tensors on the training device
  (:mod:`~secondorder.data.load`), where :func:`epoch_permutation` and :func:`sample_indices`
  draw the batches.

The datasets' names and sizes are :data:`secondorder.spec.DATASETS`; their readers are
:data:`~secondorder.data.sources.SOURCES`.
"""

from secondorder.data.bundle import bundle_digest, digest_path, prepare, tensors_sha256
from secondorder.data.load import (
    InMemoryData,
    epoch_permutation,
    load,
    sample_indices,
    split_validation,
    stratified_indices,
)
from secondorder.data.sources import resolve_data_root

__all__ = [
    "InMemoryData",
    "bundle_digest",
    "digest_path",
    "epoch_permutation",
    "load",
    "prepare",
    "resolve_data_root",
    "sample_indices",
    "split_validation",
    "stratified_indices",
    "tensors_sha256",
]
