"""The batch-size figures' own claims (Section 4.2), one finding each: Figure 6, "SQN works well
when batch size is small but the training becomes stagnant when batch size becomes larger";
Figure 7, "as batch size grows, SGD outperforms SR1 on both datasets"; and the abstract's (1)
with Figure 8, "when using a large batch size, inexact-Newton methods will converge much faster
than SGD". Finding 4 asks how a larger batch moves each method relative to SGD; these ask
what the figures show at the batch sizes themselves."""

from __future__ import annotations

import pandas as pd

from secondorder.analysis.findings.curves import (
    RunCurve,
    compare_curves,
    end_samples,
    run_curves,
)
from secondorder.analysis.findings.decisions import claim_lower
from secondorder.analysis.findings.failures import failed_where, note_failed
from secondorder.analysis.findings.per_epoch import LOWER_RULE, OUTCOME_VERDICT
from secondorder.analysis.findings.selection import compared_runs
from secondorder.analysis.findings.text import setting_label
from secondorder.analysis.findings.thresholds import LOSS_MARGIN
from secondorder.analysis.findings.verdicts import (
    UNCLEAR,
    Finding,
    all_of,
    count_text,
    majority,
    not_in_study,
    part_text,
)
from secondorder.analysis.rows import loss_column
from secondorder.analysis.style import dataset_label, optimizer_label
from secondorder.spec import GRID_AXES

# A setting but for its batch size.
GROUP_COLUMNS = [axis for axis in GRID_AXES if axis != "batch_size"]
LABEL_COLUMNS = GRID_AXES[2:]
COLUMNS = ("Setting", "Claim", "At epoch", "Loss (first)", "Loss (second)", "Verdict")
SCOPE = (
    "the runs of the batch-size figures (line search on, SHG's gradient on 20 %), per dataset, "
    "model and activation run at two batch sizes or more; the training loss per seed (diverged "
    "or untuned: infinite)"
)


def _runs(
    rows: pd.DataFrame, methods: tuple[str, ...]
) -> tuple[pd.DataFrame, dict[str, RunCurve], pd.DataFrame]:
    """(the counted runs of `methods`, their curves, the failed rows among them)."""
    rows, runs, failed = compared_runs(rows)
    runs = runs[runs["method"].isin(methods)]
    curves = run_curves(rows[rows["run_id"].isin(set(runs["run_id"]))], loss_column(rows))
    return runs, curves, failed[failed["method"].isin(methods)]


def _largest_shared(group: pd.DataFrame, first: str, second: str) -> tuple[int, int] | None:
    """The smallest and the largest batch size at which a setting ran both presets (None:
    fewer than two)."""
    sizes = sorted(
        set(group.loc[group["optimizer"] == first, "batch_size"])
        & set(group.loc[group["optimizer"] == second, "batch_size"])
    )
    return (int(sizes[0]), int(sizes[-1])) if len(sizes) >= 2 else None


def _finish(
    finding: Finding,
    verdicts: list[str],
    used: set[str],
    failed: pd.DataFrame,
    runs: pd.DataFrame,
    what: str,
) -> Finding:
    """The finding with its runs and the failed runs of its settings listed; "not in this
    study" (`what`) without any verdict."""
    failed = failed_where(failed, runs, GROUP_COLUMNS)
    if not verdicts:
        return note_failed(not_in_study(finding, what), failed, LABEL_COLUMNS)
    finding.run_ids = frozenset(used)
    return note_failed(finding, failed, LABEL_COLUMNS)


def check_sqn_stagnates(rows: pd.DataFrame) -> Finding:
    """SQN's own loss per epoch (Figure 6 draws SQN alone) at its largest batch against its
    smallest, at the last epoch both share: stagnant means clearly higher at the large batch."""
    finding = Finding(
        key="fig6-sqn-batch",
        title="SQN stagnates as the batch size grows",
        paper="Section 4.2; Figure 6",
        rule=f"SQN in {SCOPE}: at the largest batch size against the smallest, at the last epoch "
        f"both share. Stagnant: higher at the largest by >{LOSS_MARGIN:.0%} beyond the seed "
        "variation -> holds; the seeds rule that out -> does not hold; else inconclusive. The "
        "finding: majority of the settings.",
        verdict=UNCLEAR,
        summary="",
        columns=COLUMNS,
    )
    runs, curves, failed = _runs(rows, ("sqn",))
    verdicts, used = [], set()
    for key, own in runs.groupby([*GROUP_COLUMNS, "optimizer"], sort=True):
        sizes = sorted(set(own["batch_size"]))
        if len(sizes) < 2:
            continue
        small, large = (
            list(own.loc[own["batch_size"] == b, "run_id"]) for b in (sizes[0], sizes[-1])
        )
        end = end_samples([curves[r] for r in small], [curves[r] for r in large])
        if end is None:
            continue
        epoch, before, after = end
        verdicts.append(claim_lower(before, after))
        label = setting_label(dict(zip(GROUP_COLUMNS, key[:-1], strict=True)), GROUP_COLUMNS)
        claim = f"{optimizer_label(key[-1])} higher at batch {int(sizes[-1])} than {int(sizes[0])}"
        finding.rows.append(
            (label, claim, f"{epoch:.3g}", before.text(), after.text(), verdicts[-1])
        )
        used |= {*small, *large}
    if verdicts:
        finding.verdict = majority(verdicts)
        finding.summary = count_text(verdicts, "settings")
    return _finish(finding, verdicts, used, failed, runs, "no SQN run at two batch sizes or more")


def check_sgd_beats_sr1(rows: pd.DataFrame) -> Finding:
    """SGD against SR1 at the largest batch size both ran in a setting, at the last epoch they
    share: SGD lower, on each dataset."""
    finding = Finding(
        key="fig7-sr1-batch",
        title="As the batch grows, SGD outperforms SR1 on both datasets",
        paper="Section 4.2; Figure 7",
        rule=f"SGD and SR1 in {SCOPE}: at the largest batch size both ran, at the last epoch "
        f"they share. SGD lower than SR1 by >{LOSS_MARGIN:.0%} beyond the seed variation -> "
        "holds; the seeds rule that out -> does not hold; else inconclusive. Each dataset: "
        "majority of its settings; the finding: both datasets.",
        verdict=UNCLEAR,
        summary="",
        columns=COLUMNS,
    )
    runs, curves, failed = _runs(rows, ("sgd", "lsr1"))
    parts: dict[str, list[str]] = {"mnist": [], "cifar10": []}
    used = set()
    for key, group in runs.groupby(GROUP_COLUMNS, sort=True):
        setting = dict(zip(GROUP_COLUMNS, key, strict=True))
        for sgd in sorted(group.loc[group["method"] == "sgd", "optimizer"].unique()):
            for sr1 in sorted(group.loc[group["method"] == "lsr1", "optimizer"].unique()):
                sizes = _largest_shared(group, sgd, sr1)
                if sizes is None or setting["dataset"] not in parts:
                    continue
                at = group[group["batch_size"] == sizes[1]]
                ids = {p: list(at.loc[at["optimizer"] == p, "run_id"]) for p in (sgd, sr1)}
                end = end_samples([curves[r] for r in ids[sgd]], [curves[r] for r in ids[sr1]])
                if end is None:
                    continue
                epoch, ours, theirs = end
                verdict = claim_lower(ours, theirs)
                parts[setting["dataset"]].append(verdict)
                label = setting_label(setting, GROUP_COLUMNS)
                claim = (
                    f"{optimizer_label(sgd)} lower than {optimizer_label(sr1)} at batch {sizes[1]}"
                )
                finding.rows.append(
                    (label, claim, f"{epoch:.3g}", ours.text(), theirs.text(), verdict)
                )
                used |= {*ids[sgd], *ids[sr1]}
    verdicts = [v for v in parts.values() for v in v]
    if verdicts:
        finding.verdict = all_of([majority(v) for v in parts.values()])
        finding.summary = "; ".join(
            part_text(dataset_label(d), v, "settings") for d, v in parts.items()
        )
    what = "no setting with SGD and SR1 at two batch sizes or more"
    return _finish(finding, verdicts, used, failed, runs, what)


def check_shg_large_batch(rows: pd.DataFrame) -> Finding:
    """SHG against SGD along the curve at the largest batch size both ran in a setting."""
    finding = Finding(
        key="abstract1-large-batch",
        title="At a large batch size SHG converges much faster than SGD",
        paper="Abstract (1); Section 4.2; Figure 8",
        rule=f"SGD and SHG in {SCOPE}: at the largest batch size both ran, {LOWER_RULE}. The "
        "finding: majority of the settings.",
        verdict=UNCLEAR,
        summary="",
        columns=(
            "Setting",
            "Claim",
            "Epochs lower",
            "At epoch",
            "Loss (SHG)",
            "Loss (SGD)",
            "Verdict",
        ),
    )
    runs, curves, failed = _runs(rows, ("sgd", "shg"))
    verdicts, used = [], set()
    for key, group in runs.groupby(GROUP_COLUMNS, sort=True):
        label = setting_label(dict(zip(GROUP_COLUMNS, key, strict=True)), GROUP_COLUMNS)
        for sgd in sorted(group.loc[group["method"] == "sgd", "optimizer"].unique()):
            for shg in sorted(group.loc[group["method"] == "shg", "optimizer"].unique()):
                sizes = _largest_shared(group, sgd, shg)
                if sizes is None:
                    continue
                at = group[group["batch_size"] == sizes[1]]
                ids = {p: list(at.loc[at["optimizer"] == p, "run_id"]) for p in (sgd, shg)}
                c = compare_curves([curves[r] for r in ids[shg]], [curves[r] for r in ids[sgd]])
                if c is None:
                    continue
                verdicts.append(OUTCOME_VERDICT[c.outcome])
                claim = (
                    f"{optimizer_label(shg)} lower than {optimizer_label(sgd)} at batch {sizes[1]}"
                )
                finding.rows.append(
                    (
                        label,
                        claim,
                        f"{c.share_lower:.0%}",
                        f"{c.epochs[-1]:.3g}",
                        c.method.text(),
                        c.reference.text(),
                        verdicts[-1],
                    )
                )
                used |= {*ids[sgd], *ids[shg]}
    if verdicts:
        finding.verdict = majority(verdicts)
        finding.summary = count_text(verdicts, "settings")
    what = "no setting with SGD and SHG at two batch sizes or more"
    return _finish(finding, verdicts, used, failed, runs, what)
