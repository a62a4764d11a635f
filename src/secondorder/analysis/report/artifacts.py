"""The report's artifacts (each figure or table as it is, with its files and data; an
artifact of any kind, some kinds with more: :data:`KIND_BODIES`) and what in them is beyond the
paper (other methods, variants and x axes; the lowest final losses)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder.analysis import paper
from secondorder.analysis.figures import X_DESCRIPTIONS
from secondorder.analysis.findings import is_beyond_paper
from secondorder.analysis.html import slug
from secondorder.analysis.panels import build_panels, curve_label
from secondorder.analysis.report.document import Study, artifact_heading, joined, md_table
from secondorder.analysis.style import optimizer_label


def _figures(study: Study, art: Mapping[str, Any], outputs: list[Path]) -> list[str]:
    """Its PNG figures, inline."""
    title = art.get("title", art["name"])
    return [f"![{title}]({study.rel(p)})" for p in outputs if p.suffix == ".png"]


def _tables(study: Study, art: Mapping[str, Any], outputs: list[Path]) -> list[str]:
    """Its Markdown tables, as they are."""
    return [p.read_text().rstrip() for p in outputs if p.suffix == ".md" and p.exists()]


def _figures_and_x(study: Study, art: Mapping[str, Any], outputs: list[Path]) -> list[str]:
    """Its figures, then what their x axis measures."""
    return [*_figures(study, art, outputs), "", X_DESCRIPTIONS.get(art.get("x", "epoch"), "")]


def _figures_and_tables(study: Study, art: Mapping[str, Any], outputs: list[Path]) -> list[str]:
    """Its figures, then its tables."""
    return [*_figures(study, art, outputs), *_tables(study, art, outputs)]


# What the report shows of an artifact between its heading and the links to its files: its
# figures inline, or for these kinds (of secondorder.study.artifacts.KINDS) more.
KIND_BODIES: dict[str, Callable[[Study, Mapping[str, Any], list[Path]], list[str]]] = {
    "loss_curves": _figures_and_x,
    "accuracy_table": _tables,
    "time_to_target": _figures_and_tables,
    "cg_diagnostics": _figures_and_tables,
    "step_cost": _tables,
}


def _artifact(study: Study, art: Mapping[str, Any]) -> list[str]:
    """Its heading, what its kind shows of it, then links to its files and its data."""
    outputs = [Path(p) for p in art.get("outputs", [])]
    body = KIND_BODIES.get(art["kind"], _figures)(study, art, outputs)
    files = ", ".join(f"[{p.name}]({study.rel(p)})" for p in outputs)
    data = Path(art["aggregated"])
    return [
        f"### {artifact_heading(art)}",
        "",
        *body,
        *([""] if body else []),
        f"Files: {files}; data: [{data.name}]({study.rel(data)})",
    ]


def artifacts_section(study: Study) -> list[str]:
    return joined(_artifact(study, art) for art in study.artifacts)


def _beyond_paper_variants(table: pd.DataFrame) -> list[str]:
    """Display names of the presets of the paper's methods that run a variant it does not
    (Gauss-Newton curvature, Levenberg-Marquardt damping)."""
    if table.empty or "hparams" not in table:
        return []
    presets = table.groupby("optimizer", sort=True)[["method", "hparams"]].first()
    presets = presets[presets["method"].isin(paper.METHODS)]
    return [optimizer_label(str(name)) for name, row in presets.iterrows() if is_beyond_paper(row)]


def _lowest_final_losses(study: Study) -> list[tuple[str, str, str, str]]:
    """Per panel of every loss-curve figure: the curve with the lowest final training loss
    among those not all diverged, and every such curve's final loss."""
    best = []
    for art in study.artifacts:
        if art["kind"] != "loss_curves":
            continue
        lines = art.get("lines", "optimizer")
        table = study.tables[art["name"]]
        x = art.get("x", "epoch")
        for panel in build_panels(table, x=x, lines=lines, panels=art.get("panels")):
            alive = sorted(
                (c for c in panel.curves if len(c.y) and c.n_diverged < c.n_runs),
                key=lambda c: c.y[-1],
            )
            if alive:
                finals = ", ".join(f"{curve_label(c, lines)} {c.y[-1]:.4g}" for c in alive)
                best.append((art["name"], panel.title, curve_label(alive[0], lines), finals))
    return best


def beyond_the_paper_section(study: Study) -> list[str]:
    lines = []
    for art in study.artifacts:
        table = study.tables[art["name"]]
        extra = sorted(set(table["method"]) - set(paper.METHODS)) if len(table) else []
        link = f"[{art['name']}](#{slug(artifact_heading(art))})"
        if art.get("x") == "work":
            lines.append(f"- {link}: training loss against work in gradient-equivalents.")
        if extra:
            lines.append(f"- {link}: methods the paper does not compare: {', '.join(extra)}.")
        variants = _beyond_paper_variants(table)
        if variants:
            lines.append(
                f"- {link}: variants the paper does not run (not counted in the verdicts): "
                f"{', '.join(variants)}."
            )
    best = _lowest_final_losses(study)
    if best:
        lines += [
            *([""] if lines else []),
            "Lowest final training loss per panel (mean over seeds):",
            "",
            *md_table(("Artifact", "Panel", "Lowest", "Final losses"), best),
        ]
    return lines or ["None in this study."]
