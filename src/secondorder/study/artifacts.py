"""The kinds of artifact a study config can ask for (``artifacts.<name>.kind``), in one registry.

Each :class:`ArtifactKind` says what its artifacts are made of and how the workflow and the
reports treat them; the kinds differ only in these values. The Snakefile wires one rule per kind
from :data:`KINDS` (its outputs, script, wildcard constraint and report captions), the config
accepts exactly these names, and the claims report and results/metrics.json show an artifact of
any kind (its files; its headline numbers, at least :data:`HEADLINE_COUNTS`), some kinds with
more (secondorder.analysis.metrics, secondorder.analysis.report.artifacts).

Adding a kind is one entry of :data:`KINDS`, its analysis module (the function that turns the
artifact's aggregated CSV into its files) and its glue script (``workflow/scripts/<script>``,
which calls that function with the rule's files and ``params.options``). Declarative and
torch-free: the DAG reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from secondorder.study import layout

# Counts that every kind's headline numbers carry per setting beside its own, how its runs
# ended (a diverged, untuned or failed preset cannot pass for a healthy one); a kind without
# numbers of its own has these alone.
HEADLINE_COUNTS = ("runs", "diverged_runs", "untuned_runs", "failed_runs")


@dataclass(frozen=True)
class ArtifactKind:
    """One kind of artifact, as the workflow and the reports see it."""

    name: str
    rule: str  # the Snakemake rule that makes an artifact of this kind
    script: str  # its glue script in workflow/scripts/
    folder: str  # where its files go: results/<folder>/<artifact>.<suffix>
    suffixes: tuple[str, ...]  # one file per suffix, also the names of the rule's outputs
    shown: Mapping[str, str]  # suffix -> content label, for the files Snakemake's report shows
    section: str  # its section (category) in Snakemake's report
    headline: tuple[str, ...]  # its own numbers per setting in results/metrics.json
    options: tuple[str, ...] = ("title",)  # the artifact's settings its function takes
    presets: bool = False  # its function also takes the presets' methods (fixed line colours)
    caption: str = "artifact.rst"  # its caption in Snakemake's report (workflow/report/)

    def files(self, artifact: str) -> dict[str, str]:
        """Suffix -> path of each file of ``artifact`` (a name, or the wildcard of a rule)."""
        return {
            suffix: layout.artifact_file(self.folder, artifact, suffix) for suffix in self.suffixes
        }

    def function_options(
        self, entry: Mapping[str, Any], presets: Mapping[str, str]
    ) -> dict[str, Any]:
        """The keyword arguments of the kind's function for one checked artifact ``entry``;
        ``presets`` maps each optimizer preset to its method, in the config's order."""
        options = {key: entry[key] for key in self.options}
        return {**options, "presets": dict(presets)} if self.presets else options


KINDS: dict[str, ArtifactKind] = {
    kind.name: kind
    for kind in (
        ArtifactKind(
            name="accuracy_table",
            rule="table",
            script="table.py",
            folder="tables",
            suffixes=("md", "tex", "csv"),
            shown={"csv": "table"},
            section="Accuracy tables",
            headline=("best_test_accuracy",),
            caption="accuracy_table.rst",
        ),
        ArtifactKind(
            name="loss_curves",
            rule="figure",
            script="figure.py",
            folder="figures",
            suffixes=("png", "pdf"),
            shown={"png": "figure"},
            section="Loss curves",
            headline=("final_train_loss",),
            options=("x", "title", "lines", "panels", "beyond_paper"),
            presets=True,
            caption="loss_curves.rst",
        ),
        ArtifactKind(
            name="time_to_target",
            rule="time_to_target",
            script="time_to_target.py",
            folder="tables",
            suffixes=("md", "tex", "csv"),
            shown={"csv": "table"},
            section="Time to target",
            headline=("seconds_to_target", "reached_runs"),
            options=("title", "targets"),
            caption="time_to_target.rst",
        ),
        ArtifactKind(
            name="cg_diagnostics",
            rule="cg_diagnostics",
            script="cg_diagnostics.py",
            folder="figures",
            suffixes=("png", "pdf", "csv"),
            shown={"png": "figure", "csv": "numbers"},
            section="CG diagnostics",
            headline=("cg_iterations_per_step", "negative_curvature_share"),
            presets=True,
            caption="cg_diagnostics.rst",
        ),
        ArtifactKind(
            name="step_cost",
            rule="step_cost",
            script="step_cost.py",
            folder="tables",
            suffixes=("md", "tex", "csv"),
            shown={"csv": "table"},
            section="Step cost",
            headline=(
                "gradient_equivalents_per_step",
                "data_passes_per_epoch",
                "seconds_per_step",
            ),
            options=("title", "beyond_paper"),
            caption="step_cost.rst",
        ),
    )
}


def artifact_files(artifacts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every file of the checked ``artifacts`` (name -> entry), in their order."""
    return [
        path
        for name, entry in artifacts.items()
        for path in KINDS[entry["kind"]].files(name).values()
    ]


def report_entry(name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the claims report needs to know of one checked artifact: its settings, its
    aggregated CSV and its files (see secondorder.analysis.write_report)."""
    keys = ("kind", "title", "x", "lines", "panels", "targets", "beyond_paper")
    return {
        "name": name,
        **{key: entry[key] for key in keys},
        "aggregated": layout.aggregated(name),
        "outputs": list(KINDS[entry["kind"]].files(name).values()),
    }
