"""Analysis of run records: aggregated CSVs, loss-curve figures, accuracy tables and the report.

Everything here reads files written by :mod:`secondorder.training.loop` (``metrics.csv`` and
``summary.json`` per run) and writes files atomically, so the Snakemake rules (and the CLI) are
thin wrappers. It imports no torch. One module per idea:

- :mod:`~secondorder.analysis.records`: run directories -> aggregated CSV (:func:`aggregate`);
- :mod:`~secondorder.analysis.rows`: reading the aggregated rows' columns, once (which loss, the
  x axis, the setting columns, how runs ended);
- :mod:`~secondorder.analysis.paper`: every number the paper reports, and its inconsistencies;
- :mod:`~secondorder.analysis.panels`: rows -> panels of seed-averaged curves
  (:func:`build_panels`);
- :mod:`~secondorder.analysis.figures`: loss-curve figures (:func:`plot_loss_curves`);
- :mod:`~secondorder.analysis.tables`: best test accuracy next to the paper's Table 1
  (:func:`accuracy_table`);
- :mod:`~secondorder.analysis.time_to_target`: seconds to a target test accuracy next to the
  paper's Table 2 (:func:`time_to_target_table`);
- :mod:`~secondorder.analysis.step_cost`: what one step and one epoch cost each method, in
  gradient-equivalents (:func:`~secondorder.analysis.step_cost.step_cost_table`);
- :mod:`~secondorder.analysis.cg_diagnostics`: what CG does inside SHG
  (:func:`plot_cg_diagnostics`);
- :mod:`~secondorder.analysis.tuning_report`: every point the tuning stage tried, and how
  sensitive each method is (:func:`~secondorder.analysis.tuning_report.write_tuning_report`);
- :mod:`~secondorder.analysis.metrics`: headline numbers, keyed by every setting
  (:func:`headline_metrics`);
- :mod:`~secondorder.analysis.tabular`: one Markdown/LaTeX table writer for all tables;
- :mod:`~secondorder.analysis.findings`: the paper's findings, one rule each, checked on the
  same data (:func:`~secondorder.analysis.findings.check_all`);
- :mod:`~secondorder.analysis.report`: the claims report and its metrics, one function per
  section (:func:`write_report`);
- :mod:`~secondorder.analysis.html`: the report as one HTML page with the figures inline;
- :mod:`~secondorder.analysis.style`: labels, colours and ordering shared by all of them.
"""

from __future__ import annotations

from secondorder.analysis.cg_diagnostics import plot_cg_diagnostics, run_diagnostics
from secondorder.analysis.figures import X_DESCRIPTIONS, X_LABELS, plot_loss_curves
from secondorder.analysis.findings import VERDICTS, Finding, check_all
from secondorder.analysis.metrics import headline_metrics, setting_key
from secondorder.analysis.panels import Curve, Panel, build_panels
from secondorder.analysis.records import CONTEXT_COLUMNS, SPEC_COLUMNS, aggregate
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
from secondorder.analysis.tables import accuracy_summary, accuracy_table
from secondorder.analysis.time_to_target import run_times, time_summary, time_to_target_table

__all__ = [
    "CONTEXT_COLUMNS",
    "DATASET_LABELS",
    "MODEL_LABELS",
    "MODEL_ORDER",
    "PALETTE",
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
    "headline_metrics",
    "optimizer_colour",
    "optimizer_label",
    "plot_cg_diagnostics",
    "plot_loss_curves",
    "preset_ranks",
    "preset_style",
    "run_diagnostics",
    "run_times",
    "setting_key",
    "time_summary",
    "time_to_target_table",
    "write_report",
]
