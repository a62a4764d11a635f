"""What a study costs per tier: the paper's artifacts alone, and with those beyond the paper
(config/beyond.yaml added to config/config.yaml), priced on each calibration at hand (the one
the plan uses, and those shipped with the package: the CPU's, a GPU's), a GPU's unpacked and
with small runs sharing it (:mod:`secondorder.study.packing`), and what to do about runs that
a scheduler's job could not hold (:data:`~secondorder.study.plan.RUNTIME_CAP_MIN`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from secondorder.spec import RunSpec
from secondorder.study.expand import expand
from secondorder.study.packing import packed_seconds
from secondorder.study.plan import RUNTIME_CAP_MIN, SAFETY_FACTOR, estimate_seconds
from secondorder.training.devices import SLOTS_PER_GPU

PAPER, BEYOND = "paper", "paper + beyond"


def tier_runs(study: Mapping[str, Any]) -> dict[str, dict[str, RunSpec]]:
    """The runs of each tier of the checked ``study``: its paper artifacts alone, and, when it
    has artifacts beyond the paper, all of them (the paper's runs keep their ids)."""
    artifacts = study["artifacts"]
    paper = {name: entry for name, entry in artifacts.items() if not entry["beyond_paper"]}
    tiers = {PAPER: expand({**study, "artifacts": paper})} if paper else {}
    if len(paper) < len(artifacts):
        tiers[BEYOND] = expand(study)
    return tiers


def tier_costs(
    tiers: Mapping[str, Mapping[str, RunSpec]], calibrations: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per tier and calibration: runs, compute seconds (every run once), on a GPU the packed
    device seconds, and the runs over the cap with the longest one's excess factor."""
    rows = []
    for tier, runs in tiers.items():
        for calibration in calibrations:
            seconds = {run_id: estimate_seconds(spec, calibration) for run_id, spec in runs.items()}
            over = {
                run_id: SAFETY_FACTOR * s / 60 / RUNTIME_CAP_MIN
                for run_id, s in seconds.items()
                if SAFETY_FACTOR * s / 60 > RUNTIME_CAP_MIN
            }
            on_gpu = calibration["device"] == "cuda"
            rows.append(
                {
                    "tier": tier,
                    "calibration": calibration["path"],
                    "device": label(calibration),
                    "runs": len(runs),
                    "seconds": sum(seconds.values()),
                    "packed_seconds": packed_seconds(runs, calibration) if on_gpu else None,
                    "over_cap": len(over),
                    "longest": max(over.items(), key=lambda item: item[1]) if over else None,
                }
            )
    return rows


def label(calibration: Mapping[str, Any]) -> str:
    """A calibration's device in words: ``cpu (vm, 1 thread)``, or the GPU's name."""
    if calibration["device"] == "cpu":
        return f"cpu ({calibration['host']}, {calibration['threads']} thread(s) per job)"
    return str(calibration["device_name"])


def format_tiers(rows: Sequence[Mapping[str, Any]], epochs: int | None = None) -> str:
    """The tiers as text: compute hours per tier and device (packed beside unpacked on a GPU),
    then, where runs exceed a job's cap, how many and what to do (``epochs``: the study's
    ``run.epochs``, to say how many fit)."""
    lines = [
        f"tiers: compute hours, every run once (packed: small runs share a GPU of "
        f"{SLOTS_PER_GPU} slots)",
        f"{'tier':<16} {'runs':>5}  {'device':<44} {'hours':>10} {'packed':>10}",
    ]
    for row in rows:
        packed = "-" if row["packed_seconds"] is None else f"{row['packed_seconds'] / 3600:.1f}"
        lines.append(
            f"{row['tier']:<16} {row['runs']:>5}  {row['device']:<44} "
            f"{row['seconds'] / 3600:>10.1f} {packed:>10}"
        )
    for row in rows:
        if row["over_cap"]:
            run_id, factor = row["longest"]
            fit = int(epochs / factor) if epochs else None
            fit = (
                ""
                if fit is None
                else f" (at most {fit} of {epochs} fit)"
                if fit
                else " (not one fits)"
            )
            lines.append(
                f"{row['tier']}, {row['device']}: {row['over_cap']} run(s) need more than the "
                f"{RUNTIME_CAP_MIN} minutes a job may ask for, the longest ({run_id}) "
                f"{factor:.1f}x that: use fewer epochs{fit}, more processes per run once "
                "data-parallel runs land, or a faster device (calibrate it)"
            )
    return "\n".join(lines)
