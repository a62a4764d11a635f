"""Analysis of run records: aggregated CSVs, loss-curve figures, accuracy tables and the report.

Everything here reads files written by :mod:`secondorder.train` (``metrics.csv`` and
``summary.json`` per run) and writes files atomically, so the Snakemake rules (and the CLI) are
thin wrappers. One module per idea:

- :mod:`~secondorder.analysis.records`: run directories -> aggregated CSV (:func:`aggregate`);
- :mod:`~secondorder.analysis.figures`: loss-curve panels and figures (:func:`plot_loss_curves`);
- :mod:`~secondorder.analysis.tables`: best test accuracy next to the paper's Table 1
  (:func:`accuracy_table`);
- :mod:`~secondorder.analysis.time_to_target`: seconds to a target test accuracy next to the
  paper's Table 2 (:func:`time_to_target_table`);
- :mod:`~secondorder.analysis.cg_diagnostics`: what CG does inside SHG
  (:func:`plot_cg_diagnostics`);
- :mod:`~secondorder.analysis.metrics`: headline numbers, keyed by every setting
  (:func:`headline_metrics`);
- :mod:`~secondorder.analysis.tabular`: one Markdown/LaTeX table writer for all tables;
- :mod:`~secondorder.analysis.claims`: the paper's claims checked on the same data;
- :mod:`~secondorder.analysis.report`: the Markdown report and its metrics (:func:`write_report`);
- :mod:`~secondorder.analysis.style`: labels, colours and ordering shared by all of them.
"""

from __future__ import annotations

from secondorder.analysis.cg_diagnostics import plot_cg_diagnostics, run_diagnostics
from secondorder.analysis.claims import (
    LOSS_MARGIN,
    OBSERVED,
    SECOND_ORDER_METHODS,
    TABLE1_TOLERANCE_PP,
    VERDICTS,
    Claim,
    loss_claims,
    table_claims,
)
from secondorder.analysis.figures import (
    X_DESCRIPTIONS,
    X_LABELS,
    Curve,
    Panel,
    build_panels,
    plot_loss_curves,
)
from secondorder.analysis.metrics import headline_metrics, setting_key
from secondorder.analysis.records import CONTEXT_COLUMNS, FULL_TRAIN_SIZE, SPEC_COLUMNS, aggregate
from secondorder.analysis.report import write_report
from secondorder.analysis.style import (
    DATASET_LABELS,
    MODEL_LABELS,
    MODEL_ORDER,
    PALETTE,
    optimizer_colour,
    optimizer_label,
    preset_ranks,
    preset_style,
)
from secondorder.analysis.tables import (
    PAPER_ACTIVATION,
    PAPER_TABLE1,
    accuracy_summary,
    accuracy_table,
)
from secondorder.analysis.time_to_target import (
    PAPER_TABLE2,
    PAPER_TARGETS,
    run_times,
    time_summary,
    time_to_target_table,
)

__all__ = [
    "CONTEXT_COLUMNS",
    "DATASET_LABELS",
    "FULL_TRAIN_SIZE",
    "LOSS_MARGIN",
    "MODEL_LABELS",
    "MODEL_ORDER",
    "OBSERVED",
    "PALETTE",
    "PAPER_ACTIVATION",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PAPER_TARGETS",
    "SECOND_ORDER_METHODS",
    "SPEC_COLUMNS",
    "TABLE1_TOLERANCE_PP",
    "VERDICTS",
    "X_DESCRIPTIONS",
    "X_LABELS",
    "Claim",
    "Curve",
    "Panel",
    "accuracy_summary",
    "accuracy_table",
    "aggregate",
    "build_panels",
    "headline_metrics",
    "loss_claims",
    "optimizer_colour",
    "optimizer_label",
    "plot_cg_diagnostics",
    "plot_loss_curves",
    "preset_ranks",
    "preset_style",
    "run_diagnostics",
    "run_times",
    "setting_key",
    "table_claims",
    "time_summary",
    "time_to_target_table",
    "write_report",
]
