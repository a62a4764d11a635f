"""Analysis of run records: aggregated CSVs, loss-curve figures, accuracy tables and the report.

Everything here reads files written by :mod:`secondorder.train` (``metrics.csv`` and
``summary.json`` per run) and writes files atomically, so the Snakemake rules (and the CLI) are
thin wrappers. One module per idea:

- :mod:`~secondorder.analysis.records`: run directories -> aggregated CSV (:func:`aggregate`);
- :mod:`~secondorder.analysis.figures`: loss-curve panels and figures (:func:`plot_loss_curves`);
- :mod:`~secondorder.analysis.tables`: best test accuracy next to the paper's Table 1
  (:func:`accuracy_table`);
- :mod:`~secondorder.analysis.findings`: the paper's findings, one rule each, checked on the
  same data (:func:`~secondorder.analysis.findings.check_all`);
- :mod:`~secondorder.analysis.report`: the claims report and its metrics (:func:`write_report`);
- :mod:`~secondorder.analysis.html`: the report as one HTML page with the figures inline;
- :mod:`~secondorder.analysis.style`: labels, colours and ordering shared by all of them.
"""

from __future__ import annotations

from secondorder.analysis.figures import (
    X_DESCRIPTIONS,
    X_LABELS,
    Curve,
    Panel,
    build_panels,
    plot_loss_curves,
)
from secondorder.analysis.findings import VERDICTS, Finding, check_all
from secondorder.analysis.records import CONTEXT_COLUMNS, FULL_TRAIN_SIZE, SPEC_COLUMNS, aggregate
from secondorder.analysis.report import write_report
from secondorder.analysis.style import (
    DATASET_LABELS,
    MODEL_LABELS,
    MODEL_ORDER,
    PALETTE,
    optimizer_colour,
    optimizer_label,
)
from secondorder.analysis.tables import (
    PAPER_ACTIVATION,
    PAPER_TABLE1,
    accuracy_summary,
    accuracy_table,
)

__all__ = [
    "CONTEXT_COLUMNS",
    "DATASET_LABELS",
    "FULL_TRAIN_SIZE",
    "MODEL_LABELS",
    "MODEL_ORDER",
    "PALETTE",
    "PAPER_ACTIVATION",
    "PAPER_TABLE1",
    "SPEC_COLUMNS",
    "VERDICTS",
    "X_DESCRIPTIONS",
    "X_LABELS",
    "Curve",
    "Finding",
    "Panel",
    "accuracy_summary",
    "accuracy_table",
    "aggregate",
    "build_panels",
    "check_all",
    "optimizer_colour",
    "optimizer_label",
    "plot_loss_curves",
    "write_report",
]
