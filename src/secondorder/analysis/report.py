"""The Markdown report (study scale, every artifact, the checked claims) and its headline
numbers as JSON (DVC metrics)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder import atomic
from secondorder.analysis.claims import (
    LOSS_MARGIN,
    TABLE1_TOLERANCE_PP,
    VERDICTS,
    Claim,
    loss_claims,
    table_claims,
)
from secondorder.analysis.figures import X_DESCRIPTIONS, build_panels
from secondorder.analysis.metrics import headline_metrics
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.style import dataset_label, is_missing, sort_key
from secondorder.analysis.tables import accuracy_summary


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def _distinct(runs: pd.DataFrame, column: str, missing: str) -> str:
    if column not in runs:
        return "n/a"
    items = set()
    for value in runs[column]:
        if is_missing(value):
            items.add(missing)
        elif isinstance(value, float) and value.is_integer():
            items.add(str(int(value)))
        else:
            items.add(str(value))
    return ", ".join(sorted(items, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else v)))


def _original_note(value: Any) -> str:
    text = str(value).lower()
    if text == "true":
        return " (matches the original release)"
    if text == "false":
        return " (differs from the original release)"
    return ""


def _study_scale(tables: Sequence[pd.DataFrame]) -> list[str]:
    frames = [t for t in tables if len(t)]
    if not frames:
        return ["- No runs."]
    runs = pd.concat(frames, ignore_index=True).groupby("run_id").first()
    status = runs["status"].value_counts().to_dict()
    datasets = sorted(runs["dataset"].unique(), key=sort_key)
    lines = [
        f"- Runs: {len(runs)} ({', '.join(f'{v} {k}' for k, v in sorted(status.items()))})",
        f"- Datasets: {', '.join(dataset_label(d) for d in datasets)}",
        f"- Epochs: {_distinct(runs, 'epochs', 'n/a')}",
        f"- Training subset (images): {_distinct(runs, 'train_subset', 'full set')}; "
        f"test subset: {_distinct(runs, 'test_subset', 'full set')}",
        f"- Batch sizes: {_distinct(runs, 'batch_size', 'n/a')}; "
        f"seeds: {_distinct(runs, 'seed', 'n/a')}",
        f"- Devices: {_distinct(runs, 'device', 'not recorded')}",
        "- Data checksums (MD5 of the files each dataset was prepared from):",
    ]
    for dataset in datasets:
        group = runs[runs["dataset"] == dataset]
        for (files, original), _ in group.groupby(
            ["data_files", "data_original_md5"], dropna=False, sort=True
        ):
            parsed = json.loads(files) if isinstance(files, str) and files else {}
            lines.append(f"  - {dataset_label(dataset)}{_original_note(original)}:")
            lines += [f"    - `{f}`: `{md5}`" for f, md5 in sorted(parsed.items())]
            if not parsed:
                lines.append("    - (not recorded)")
    return lines


def write_report(
    artifacts: Sequence[Mapping[str, Any]], out_md: Path, *, metrics_json: Path | None = None
) -> list[Claim]:
    """Markdown report: study scale, every artifact (figures embedded, tables inlined, files
    linked) and the checked claims. Optionally also a JSON of headline numbers (DVC metrics).

    Each artifact is a mapping with keys: name, kind ("loss_curves" | "accuracy_table"),
    title, aggregated (CSV path), outputs (paths of its files), and for loss curves x, lines.
    """
    out_md = Path(out_md)
    base = out_md.parent
    tables = {a["name"]: read_aggregated(Path(a["aggregated"])) for a in artifacts}
    text = [
        "# Reproduction report",
        "",
        "Re-run of *A comparison of second-order methods for deep convolutional neural "
        "networks* (anonymous, ICLR 2018 submission).",
        "",
        "## Study scale",
        "",
    ]
    text += _study_scale(list(tables.values()))
    text += ["", "## Artifacts", ""]
    claims: list[Claim] = []
    metrics = headline_metrics(artifacts)
    for art in artifacts:
        name, kind, title = art["name"], art["kind"], art.get("title", art["name"])
        outputs = [Path(p) for p in art.get("outputs", [])]
        table = tables[name]
        text += [f"### {name}: {title}", ""]
        if kind == "loss_curves":
            x, lines = art.get("x", "epoch"), art.get("lines", "optimizer")
            pngs = [p for p in outputs if p.suffix == ".png"]
            text += [f"![{title}]({_rel(p, base)})" for p in pngs]
            text += ["", X_DESCRIPTIONS.get(x, "")]
            panels = build_panels(table, x=x, lines=lines, panels=art.get("panels"))
            art_claims = loss_claims(name, panels, x=x, lines=lines)
        elif kind == "accuracy_table":
            mds = [p for p in outputs if p.suffix == ".md"]
            text += [p.read_text().rstrip() for p in mds if p.exists()]
            summary = accuracy_summary(table) if len(table) else pd.DataFrame()
            art_claims = table_claims(name, summary)
        else:  # time_to_target, cg_diagnostics: shown, no claims checked on them here
            text += [f"![{title}]({_rel(p, base)})" for p in outputs if p.suffix == ".png"]
            text += [p.read_text().rstrip() for p in outputs if p.suffix == ".md" and p.exists()]
            art_claims = []
        links = ", ".join(f"[{p.name}]({_rel(p, base)})" for p in outputs)
        text += [
            "",
            f"Files: {links}; data: [{Path(art['aggregated']).name}]"
            f"({_rel(Path(art['aggregated']), base)})",
            "",
        ]
        claims += art_claims
        checked = [c.verdict for c in art_claims if c.verdict in VERDICTS]
        if checked:
            counts = {v.replace(" ", "_"): checked.count(v) for v in VERDICTS}
            metrics.setdefault("claims", {})[name] = counts

    tolerances = ", ".join(
        f"{dataset_label(d)} ±{t:g} points" for d, t in TABLE1_TOLERANCE_PP.items()
    )
    text += [
        "## Claims",
        "",
        "Verdicts: *holds* / *does not hold* / *inconclusive*. Table 1 tolerance: "
        f"{tolerances} (outside it at reduced scale: inconclusive). Loss comparisons: a "
        f"difference counts beyond {LOSS_MARGIN:.0%} relative and, with several seeds, only "
        "when the seeds' min-max ranges do not overlap. Second-order methods: SHG, SQN, SR1 "
        "(L-SR1); a diverged second-order method counts as not beating SGD.",
        "",
    ]
    for art in artifacts:
        own = [c for c in claims if c.artifact == art["name"]]
        if own:
            text += [f"### {art['name']}: {art.get('title', art['name'])}", ""]
            text += [c.markdown() for c in own]
            text.append("")
    atomic.write_text(out_md, "\n".join(text).rstrip() + "\n")
    if metrics_json is not None:
        atomic.write_text(Path(metrics_json), json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return claims
