"""Where the report's numbers come from: how we completed the paper's models (from the model
code's docstrings), the data copies (their MD5) and the devices and software that ran (as the
runs' summaries record them; a failed run's records none, and is counted apart)."""

from __future__ import annotations

import ast
import importlib.util
import json
from collections import Counter
from pathlib import Path

from secondorder.analysis.report.document import Study, md_table
from secondorder.analysis.style import dataset_label, sort_key

# Classes of secondorder.models whose docstrings state how we completed the paper's models.
MODEL_COMPLETIONS = {
    "LeNet": "LeNet5",
    "AlexNet": "AlexNet",
    "AlexNet's residual block (Figure 11)": "ResidualBlock5x5",
    "DRN (ResNet-18)": "ResNet18",
}
SOFTWARE_KEYS = (
    "device_name",
    "python",
    "torch",
    "torchvision",
    "secondorder",
    "platform",
    "git_commit",
)


def model_completions_section(study: Study) -> list[str]:
    """The docstrings of the model classes, read from the source without importing it (the
    models are the facts; the analysis imports no torch)."""
    source = Path(importlib.util.find_spec("secondorder.models").origin).read_text()
    docs = {
        node.name: ast.get_docstring(node) or ""
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef)
    }
    lines = [
        "What the paper leaves unsaid about its models, and how we completed it (from the "
        "model code):",
        "",
    ]
    for label, cls in MODEL_COMPLETIONS.items():
        text = docs.get(cls, "not documented").replace("``", "`").replace(":class:", "")
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        lines += [f"- **{label}** (`{cls}`): " + " ".join(paragraphs)]
    return lines


def _recorded(study: Study) -> list[dict]:
    """The runs' summaries that record where they ran: a failed run's holds its error, no
    environment."""
    return [summary for summary in study.summaries if summary.get("environment")]


def _unrecorded(study: Study) -> list[str]:
    """How many runs recorded no environment, by how they ended (not dropped silently)."""
    statuses = Counter(
        str(summary.get("status", "unknown"))
        for summary in study.summaries
        if not summary.get("environment")
    )
    n = sum(statuses.values())
    if not n:
        return []
    how = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    return [
        f"Not recorded for {n} run{'s' if n > 1 else ''} ({how}): a run that failed records "
        "its error, not where it ran."
    ]


def data_copies_section(study: Study) -> list[str]:
    seen: dict[str, dict] = {}
    for summary in _recorded(study):
        data = summary["environment"].get("data") or {}
        name = data.get("name") or summary.get("spec", {}).get("dataset", "?")
        seen.setdefault(
            json.dumps([name, data.get("files", {})], sort_keys=True), data | {"name": name}
        )
    if not seen:
        return ["Not recorded."]
    lines = ["MD5 of the files each dataset was prepared from:"]
    note = {True: "matches the original release", False: "differs from the original release"}
    for data in sorted(seen.values(), key=lambda d: sort_key(d["name"])):
        original = data.get("original_md5")
        sizes = ""
        if data.get("num_train"):
            sizes = f", {data['num_train']} training and {data.get('num_test', '?')} test images"
        lines.append(
            f"- {dataset_label(data['name'])} ({note.get(original, 'origin unknown')}{sizes}):"
        )
        lines += [f"  - `{f}`: `{md5}`" for f, md5 in sorted((data.get("files") or {}).items())]
    return lines


def device_and_software_section(study: Study) -> list[str]:
    combos: dict[tuple, int] = {}
    for summary in _recorded(study):
        env = summary["environment"]
        key = tuple(str(env.get(k, "n/a")) for k in SOFTWARE_KEYS)
        combos[key] = combos.get(key, 0) + 1
    unrecorded = _unrecorded(study)
    if not combos:
        return unrecorded or ["Not recorded."]
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
    table = md_table(header, [(str(n), *key) for key, n in sorted(combos.items())])
    return [*table, *([""] if unrecorded else []), *unrecorded]
