"""The claims report (Markdown, and the same as one HTML page with the figures inline) and its
headline numbers as JSON (DVC metrics).

Sections, in order: scale of the study; verdicts; one section per finding (rule, numbers,
links, contradictions with the paper); artifacts; settings we chose; model completions; data
copies; device and software; the paper's inconsistencies; results beyond the paper.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secondorder import atomic
from secondorder.analysis import findings
from secondorder.analysis.figures import X_DESCRIPTIONS, build_panels, curve_label
from secondorder.analysis.findings import Finding
from secondorder.analysis.html import slug, write_html
from secondorder.analysis.metrics import headline_metrics
from secondorder.analysis.records import read_aggregated
from secondorder.analysis.style import dataset_label, is_missing, optimizer_label, sort_key
from secondorder.analysis.tables import PAPER_TABLE1

TITLE = "Reproduction report"
# Classes of secondorder.models whose docstrings state how we completed the paper's models.
MODEL_COMPLETIONS = {
    "LeNet": "LeNet5",
    "AlexNet": "AlexNet",
    "AlexNet's residual block (Figure 11)": "ResidualBlock5x5",
    "DRN (ResNet-18)": "ResNet18",
}


def paper_inconsistencies() -> list[str]:
    """Places where the paper contradicts itself, found while reproducing it."""
    lenet_cifar = PAPER_TABLE1[("cifar10", "lenet")]
    target = findings.TARGET_ACCURACY["cifar10"] * 100
    return [
        f"Table 1 gives LeNet on CIFAR-10 a best test accuracy of {lenet_cifar:g}%, but Table 2 "
        f"reports the time LeNet needed to reach {target:g}% on CIFAR-10 with every method.",
        'Figure 12\'s caption names SGD and SR1 ("fixed learning rate of SGD and SR1"), while '
        "Section 4.4 says the second-order methods in general fail with a fixed learning rate, "
        "and SGD always uses one.",
        'Section 4.1 says SHG "takes hundred to thousand times more" time, but Table 2\'s SHG '
        "times are 16-42 times SGD's (183/4.4, 122/4.0, 1422/89.7, 1856/51.3).",
        "Section 2.2 chooses SQN of Byrd et al. (2016); Section 3.3 cites Bollapragada et al. "
        "(2016) for SQN.",
        'Figure 10\'s caption says ReLU hurts SHG "but not SR1"; the text draws the conclusion '
        "for quasi-Newton methods in general.",
        "The paper never states how many epochs it trained, its hyperparameters, or the sizes "
        "of the fully connected layers.",
    ]


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


def _study_scale(rows: pd.DataFrame) -> list[str]:
    if rows.empty:
        return ["- No runs."]
    runs = rows.groupby("run_id").first()
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
    ]
    reduced = runs[["train_subset", "test_subset"]].notna().to_numpy().any()
    if reduced or runs["seed"].nunique() < 2:
        lines.append(
            "- **Scale**: "
            + ("subsets of the data, not the paper's full sets; " if reduced else "")
            + ("one seed, so no seed ranges; " if runs["seed"].nunique() < 2 else "")
            + "the verdicts describe these runs, not the paper's setting."
        )
    return lines


def _all_rows(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The rows of every artifact, each run once (artifacts share runs)."""
    frames = [t for t in tables.values() if len(t)]
    if not frames:
        return pd.DataFrame(columns=["run_id", "iteration"])
    rows = pd.concat(frames, ignore_index=True)
    return rows.drop_duplicates(subset=["run_id", "iteration", "epoch"]).reset_index(drop=True)


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    clean = [[str(c).replace("|", "/") for c in row] for row in rows]
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
        *("| " + " | ".join(row) + " |" for row in clean),
    ]


def _artifact_heading(art: Mapping[str, Any]) -> str:
    return f"{art['name']}: {art.get('title', art['name'])}"


def _finding_heading(finding: Finding) -> str:
    return f"{finding.key}: {finding.title}"


def _links(finding: Finding, artifacts: Sequence[Mapping[str, Any]], runs: dict[str, set]) -> str:
    """The artifacts of the finding's kinds that show its runs (each once), as in-page links;
    not the beyond-the-paper ones, which share runs with the paper's figures but are not its
    evidence."""
    used = [
        a
        for a in artifacts
        if {a["kind"], f"{a['kind']}:{a.get('x')}"} & set(finding.shown_by)
        and runs.get(a["name"], set()) & finding.run_ids
        and not a.get("beyond_paper", False)
    ]
    return ", ".join(f"[{a['name']}](#{slug(_artifact_heading(a))})" for a in used) or "none"


def _finding_section(finding: Finding, links: str) -> list[str]:
    lines = [
        f"### {_finding_heading(finding)}",
        "",
        f"Paper: {finding.paper}. Verdict: **{finding.verdict}**: {finding.summary}.",
        "",
    ]
    if finding.verdict == findings.FAILS:
        lines += [
            f"**This contradicts the paper**, which states: *{finding.title}*.",
            "",
        ]
    lines += [f"Rule: {finding.rule}", ""]
    if finding.rows:
        lines += [*_md_table(finding.columns, finding.rows), ""]
    lines += [f"Shown in: {links}.", ""]
    return lines


def _settings(settings: Mapping[str, Any]) -> list[str]:
    if not settings:
        return ["Not given."]
    run = settings.get("run", {})
    lines = [
        f"- Seeds: {', '.join(map(str, settings.get('seeds', [])))}; device: "
        f"{settings.get('device', 'n/a')}",
        "- Run defaults: " + ", ".join(f"{k} {v}" for k, v in run.items()),
    ]
    for model, values in (settings.get("model_defaults") or {}).items():
        lines.append(
            f"- Model default, {model}: " + ", ".join(f"{k} {v}" for k, v in values.items())
        )
    for rule in settings.get("tuning") or []:
        changes = ", ".join(f"{k} {_hparam_text(v)}" for k, v in rule.get("set", {}).items())
        lines.append(f"- Per setting: where {rule.get('match')}, set {changes}")
    presets = settings.get("optimizers") or {}
    rows = [
        (
            name,
            entry.get("method", ""),
            ", ".join(f"{k} {_hparam_text(v)}" for k, v in entry.items() if k != "method"),
        )
        for name, entry in presets.items()
    ]
    lines += ["", *_md_table(("Preset", "Method", "Hyperparameters"), rows)] if rows else []
    targets = ", ".join(f"{dataset_label(d)} {t:.0%}" for d, t in findings.TARGET_ACCURACY.items())
    tolerance = ", ".join(
        f"{dataset_label(d)} ±{t:g}" for d, t in findings.TABLE1_TOLERANCE_PP.items()
    )
    lines += [
        "",
        "Thresholds of the verdict rules: loss margin "
        f"{findings.LOSS_MARGIN:.0%}; curves compared at {findings.GRID_POINTS} epochs, "
        f"lower at >= {findings.MOST_OF_CURVE:.0%} of them; time margin "
        f"{findings.TIME_MARGIN:.0%}; time-to-target accuracies {targets}; Table 1 tolerance "
        f"{tolerance} points.",
    ]
    return lines


def _hparam_text(value: Any) -> str:
    """A pinned value as it is; a search space as 'tuned over {a, b, c}'."""
    if isinstance(value, Mapping) and "search" in value:
        return "tuned over {" + ", ".join(map(str, value["search"])) + "}"
    return str(value)


def _tuning(tuning: Mapping[str, Any] | None) -> list[str]:
    """The tuning stage: how it searched, every point with its score, the sensitivity."""
    if not tuning or not tuning.get("markdown"):
        return [
            "Nothing was tuned: every hyperparameter is pinned in the config (see the settings "
            "above), so the comparison measures those values."
        ]
    search = tuning["search"]
    final = (
        "on the whole training set (the validation split included)"
        if search["final_training"] == "all"
        else "on the training set without the validation split"
    )
    lines = [
        f"Every point of each search space was trained for {search['epochs']} epoch(s) per "
        f"tuning seed ({', '.join(map(str, search['seeds']))}) on the training set minus a "
        f"held-out validation split of {search['validation']} "
        f"{'of the training images' if isinstance(search['validation'], float) else 'images'}"
        f", and scored on that split; the test set is never read by tuning. Selection rule: "
        f"{tuning['rule']}. The final runs train with the winner {final}.",
        "",
    ]
    base = Path(tuning["base"])
    for png in tuning.get("figures", []):
        lines += [f"![Sensitivity of {Path(png).stem}]({_rel(Path(png), base)})", ""]
    text = Path(tuning["markdown"]).read_text().splitlines()
    lines += ["#" + line if line.startswith("## ") else line for line in text[1:]]
    return lines


def _model_completions() -> list[str]:
    """The docstrings of the model classes (read from the source; the models are the facts)."""
    source = Path(importlib.util.find_spec("secondorder.models").origin).read_text()
    docs = {
        node.name: ast.get_docstring(node) or ""
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef)
    }
    lines = []
    for label, cls in MODEL_COMPLETIONS.items():
        text = docs.get(cls, "not documented").replace("``", "`").replace(":class:", "")
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        lines += [f"- **{label}** (`{cls}`): " + " ".join(paragraphs)]
    return lines


def _read_summaries(paths: Sequence[Path]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text()) for p in paths]


def _data_copies(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, dict] = {}
    for summary in summaries:
        data = (summary.get("environment") or {}).get("data") or {}
        name = data.get("name") or summary.get("spec", {}).get("dataset", "?")
        seen.setdefault(
            json.dumps([name, data.get("files", {})], sort_keys=True), data | {"name": name}
        )
    if not seen:
        return ["Not recorded."]
    lines = ["MD5 of the files each dataset was prepared from:"]
    for data in sorted(seen.values(), key=lambda d: sort_key(d["name"])):
        original = data.get("original_md5")
        note = {True: "matches the original release", False: "differs from the original release"}
        sizes = ""
        if data.get("num_train"):
            sizes = f", {data['num_train']} training and {data.get('num_test', '?')} test images"
        lines.append(
            f"- {dataset_label(data['name'])} ({note.get(original, 'origin unknown')}{sizes}):"
        )
        lines += [f"  - `{f}`: `{md5}`" for f, md5 in sorted((data.get("files") or {}).items())]
    return lines


SOFTWARE_KEYS = (
    "device_name",
    "python",
    "torch",
    "torchvision",
    "secondorder",
    "platform",
    "git_commit",
)


def _device_and_software(summaries: Sequence[Mapping[str, Any]]) -> list[str]:
    combos: dict[tuple, int] = {}
    for summary in summaries:
        env = summary.get("environment") or {}
        key = tuple(str(env.get(k, "n/a")) for k in SOFTWARE_KEYS)
        combos[key] = combos.get(key, 0) + 1
    if not combos:
        return ["Not recorded."]
    header = (
        "Runs",
        "Device",
        "Python",
        "torch",
        "torchvision",
        "secondorder",
        "Platform",
        "Commit",
    )
    rows = [(str(n), *key) for key, n in sorted(combos.items())]
    return _md_table(header, rows)


def _beyond_paper_variants(table: pd.DataFrame) -> list[str]:
    """Display names of the presets of the paper's methods that run a variant it does not
    (Gauss-Newton curvature, Levenberg-Marquardt damping)."""
    if table.empty or "hparams" not in table:
        return []
    presets = table.groupby("optimizer", sort=True)[["method", "hparams"]].first()
    presets = presets[presets["method"].isin(findings.PAPER_METHODS)]
    return [
        optimizer_label(str(name))
        for name, row in presets.iterrows()
        if findings.is_beyond_paper(row)
    ]


def _beyond_the_paper(
    artifacts: Sequence[Mapping[str, Any]], tables: Mapping[str, pd.DataFrame], best: list[tuple]
) -> list[str]:
    lines = []
    for art in artifacts:
        table = tables[art["name"]]
        extra = sorted(set(table["method"]) - set(findings.PAPER_METHODS)) if len(table) else []
        link = f"[{art['name']}](#{slug(_artifact_heading(art))})"
        if art.get("x") == "work":
            lines.append(f"- {link}: training loss against data passes including all work.")
        if extra:
            lines.append(f"- {link}: methods the paper does not compare: {', '.join(extra)}.")
        variants = _beyond_paper_variants(table)
        if variants:
            lines.append(
                f"- {link}: variants the paper does not run (not counted in the verdicts): "
                f"{', '.join(variants)}."
            )
    if best:
        lines += [
            *([""] if lines else []),
            "Lowest final training loss per panel (mean over seeds):",
            "",
            *_md_table(("Artifact", "Panel", "Lowest", "Final losses"), best),
        ]
    return lines or ["None in this study."]


def time_to_target_table(artifacts: Sequence[Mapping[str, Any]]) -> pd.DataFrame | None:
    """Per-run times to target of the study's Table 2 artifact (kind "time_to_target", with its
    own targets), if it has one; else None (finding 3 then uses the paper's targets)."""
    for art in artifacts:
        if art["kind"] == "time_to_target":
            table = read_aggregated(Path(art["aggregated"]))
            return findings.wall_time.time_to_target(table, art["targets"])
    return None


def write_report(
    artifacts: Sequence[Mapping[str, Any]],
    out_md: Path,
    *,
    metrics_json: Path | None = None,
    out_html: Path | None = None,
    settings: Mapping[str, Any] | None = None,
    summaries: Sequence[Path] = (),
    tuning: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """The claims report (and, optionally, its HTML page and the DVC metrics JSON).

    Each artifact is a mapping with keys: name, kind ("loss_curves" | "accuracy_table"),
    title, aggregated (CSV path), outputs (paths of its files), and for loss curves x, lines.
    `settings`: the study config (seeds, device, run, model_defaults, optimizers, tuning);
    `summaries`: the runs' summary.json files (data checksums, device and software).
    `tuning`: the tuning stage's Markdown table, sensitivity figures, search settings and
    selection rule (keys markdown, figures, search, rule), if anything was tuned.
    Returns the findings.
    """
    out_md = Path(out_md)
    base = out_md.parent
    if out_html is not None and Path(out_html).parent.resolve() != base.resolve():
        raise ValueError(f"the HTML report must sit next to {out_md} (its links are relative)")
    tables = {a["name"]: read_aggregated(Path(a["aggregated"])) for a in artifacts}
    rows = _all_rows(tables)
    checked = findings.check_all(rows, times=time_to_target_table(artifacts))
    artifact_runs = {n: set(t["run_id"]) if len(t) else set() for n, t in tables.items()}

    text: list[str] = []
    metrics: dict[str, Any] = headline_metrics(artifacts)
    best: list[tuple] = []
    for art in artifacts:
        name, kind, title = art["name"], art["kind"], art.get("title", art["name"])
        outputs = [Path(p) for p in art.get("outputs", [])]
        table = tables[name]
        text += [f"### {_artifact_heading(art)}", ""]
        if kind == "loss_curves":
            x, lines = art.get("x", "epoch"), art.get("lines", "optimizer")
            pngs = [p for p in outputs if p.suffix == ".png"]
            text += [f"![{title}]({_rel(p, base)})" for p in pngs]
            text += ["", X_DESCRIPTIONS.get(x, "")]
            panels = build_panels(table, x=x, lines=lines, panels=art.get("panels"))
            for panel in panels:
                alive = sorted(
                    (c for c in panel.curves if len(c.y) and c.n_diverged < c.n_runs),
                    key=lambda c: c.y[-1],
                )
                if alive:
                    finals = ", ".join(f"{curve_label(c, lines)} {c.y[-1]:.4g}" for c in alive)
                    best.append((name, panel.title, curve_label(alive[0], lines), finals))
        elif kind == "accuracy_table":
            mds = [p for p in outputs if p.suffix == ".md"]
            text += [p.read_text().rstrip() for p in mds if p.exists()]
        else:  # time_to_target, cg_diagnostics: their figure or table, shown as they are
            text += [f"![{title}]({_rel(p, base)})" for p in outputs if p.suffix == ".png"]
            text += [p.read_text().rstrip() for p in outputs if p.suffix == ".md" and p.exists()]
        links = ", ".join(f"[{p.name}]({_rel(p, base)})" for p in outputs)
        text += [
            "",
            f"Files: {links}; data: [{Path(art['aggregated']).name}]"
            f"({_rel(Path(art['aggregated']), base)})",
            "",
        ]
    verdicts = [f.verdict for f in checked]
    metrics["findings"] = {v.replace(" ", "_"): verdicts.count(v) for v in findings.VERDICTS}

    links = {f.key: _links(f, artifacts, artifact_runs) for f in checked}
    verdict_rows = [
        (
            f"[{f.key}](#{slug(_finding_heading(f))}): {f.title}",
            f"**{f.verdict}**",
            f.summary,
            links[f.key],
        )
        for f in checked
    ]
    summaries_read = _read_summaries(summaries)
    document = [
        f"# {TITLE}",
        "",
        "Re-run of *A comparison of second-order methods for deep convolutional neural "
        "networks* (anonymous, ICLR 2018 submission).",
        "",
        "## Scale of the study",
        "",
        *_study_scale(rows),
        "",
        "## Verdicts",
        "",
        "Each finding of the paper, checked by a rule that can come out either way (see its "
        'section). Inconclusive "not in this study": the study has no runs for it. Runs '
        "beyond the paper (other methods; SHG with Gauss-Newton curvature or Levenberg-"
        "Marquardt damping) are not counted: see *Beyond the paper*.",
        "",
        *_md_table(("Finding", "Verdict", "Why", "Shown in"), verdict_rows),
        "",
        "## Findings",
        "",
    ]
    for finding in checked:
        document += _finding_section(finding, links[finding.key])
    document += [
        "## Artifacts",
        "",
        *text,
        "## Settings we chose",
        "",
        *_settings(settings or {}),
        "",
        "## Tuning",
        "",
        *_tuning(tuning and {**tuning, "base": base}),
        "",
        "## Model completions",
        "",
        "What the paper leaves unsaid about its models, and how we completed it (from the "
        "model code):",
        "",
        *_model_completions(),
        "",
        "## Data copies",
        "",
        *_data_copies(summaries_read),
        "",
        "## Device and software",
        "",
        *_device_and_software(summaries_read),
        "",
        "## Paper inconsistencies",
        "",
        *(f"- {item}" for item in paper_inconsistencies()),
        "",
        "## Beyond the paper",
        "",
        *_beyond_the_paper(artifacts, tables, best),
    ]
    markdown = "\n".join(document).rstrip() + "\n"
    atomic.write_text(out_md, markdown)
    if out_html is not None:
        write_html(markdown, Path(out_html), title=TITLE)
    if metrics_json is not None:
        atomic.write_text(Path(metrics_json), json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return checked
