"""Failed runs in a finding's table: listed as such, never counted as evidence (a crash says
nothing about its optimizer). Untuned and diverged runs are outcomes and count (see
:mod:`~secondorder.analysis.findings.curves`); a failed one shows only here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from secondorder.analysis.findings.selection import runs_table
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.verdicts import Finding, count_text, majority, not_in_study
from secondorder.analysis.style import optimizer_label
from secondorder.spec import GRID_AXES

NOT_COUNTED = "not counted"


def note_failed(
    finding: Finding, failed: pd.DataFrame, columns: Iterable[str] = ("batch_size",)
) -> Finding:
    """Add one table row per setting and preset of the `failed` rows (setting, preset, which
    seeds failed, the verdict cell "not counted") and say how many in the summary."""
    runs = runs_table(failed)
    if runs.empty:
        return finding
    width = len(finding.columns)
    for key, group in runs.groupby([*GRID_AXES, "optimizer"], sort=True):
        setting = setting_label(dict(zip(GRID_AXES, key[:-1], strict=True)), columns)
        cells = [setting, optimizer_label(str(key[-1])), failed_text(group["seed"])]
        finding.rows.append(tuple([*cells, *[""] * (width - 4), NOT_COUNTED][:width]))
    finding.summary += f"; {not_counted_text(len(runs))}"
    return finding


def failed_text(seeds: pd.Series) -> str:
    """'failed (crashed): seeds 0, 2'."""
    numbers = sorted(seeds.dropna().astype(int))
    return f"failed (crashed): seed{'s' * (len(numbers) > 1)} {', '.join(map(str, numbers))}"


def not_counted_text(n: int) -> str:
    return f"{n} failed run{'s' * (n > 1)} not counted"


def failed_where(failed: pd.DataFrame, rows: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The `failed` rows in the settings (values of `columns`) that `rows` has."""
    columns = list(columns)
    if failed.empty or rows.empty:
        return failed.iloc[0:0]
    keys = set(map(tuple, rows[columns].drop_duplicates().to_numpy().tolist()))
    inside = [tuple(values) in keys for values in failed[columns].to_numpy().tolist()]
    return failed[inside]


def conclude(
    finding: Finding,
    verdicts: Sequence[str],
    run_ids: Iterable[str],
    failed: pd.DataFrame,
    missing: str,
    columns: Iterable[str] = ("batch_size",),
    what: str = "settings",
) -> Finding:
    """The finding by the majority of its per-setting ``verdicts`` over the runs ``run_ids``,
    or "not in this study" (``missing``: what the study lacks) when it has none; its failed
    runs are noted either way (:func:`note_failed`, with ``columns`` in their labels)."""
    if not verdicts:
        return note_failed(not_in_study(finding, missing), failed, columns)
    finding.verdict = majority(verdicts)
    finding.summary = count_text(verdicts, what)
    finding.run_ids = frozenset(run_ids)
    return note_failed(finding, failed, columns)
