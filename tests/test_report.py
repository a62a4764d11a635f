"""The claims report on a small synthetic study: sections in order, each finding once, links
that resolve, the HTML page self-contained."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from test_analysis import DECREASING, write_failed_run, write_run
from test_findings import FORGIVING, INF, SENSITIVE, grid, per_seed

from secondorder import analysis, study
from secondorder.analysis import findings
from secondorder.analysis.html import markdown_to_html, slug
from secondorder.analysis.report import verdicts as report_verdicts

REPO = Path(__file__).resolve().parents[1]
SECTIONS = [
    "Scale of the study",
    "Verdicts",
    "Claims",
    "Artifacts",
    "Settings we chose",
    "Tuning",
    "Model completions",
    "Data copies",
    "Device and software",
    "Paper inconsistencies",
    "Beyond the paper",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """SGD and SHG (2 seeds; SHG half SGD's loss), GD at half SGD's loss (contradicting the
    paper), SR1 diverged; plus CIFAR-10 SGD for Table 1."""
    tmp_path = tmp_path_factory.mktemp("report")
    runs = tmp_path / "runs"
    sgd = [
        write_run(runs, seed=s, losses=[v * f for v in DECREASING], accuracies=acc)
        for s, f, acc in ((0, 1.0, [0.5] * 4 + [0.97] * 5), (1, 1.02, [0.5] * 4 + [0.99] * 5))
    ]
    shg = [
        write_run(runs, optimizer="shg", seed=s, losses=[v * f for v in DECREASING])
        for s, f in ((0, 0.5), (1, 0.52))
    ]
    gd = [write_run(runs, optimizer="gd", losses=[v * 0.5 for v in DECREASING])]
    sr1 = [
        write_run(
            runs,
            optimizer="sr1",
            method="lsr1",
            losses=[2.3, 1.2, 0.9, math.nan],
            status="diverged",
        )
    ]
    cifar = [
        write_run(
            runs,
            dataset="cifar10",
            train_subset=None,
            losses=DECREASING,
            accuracies=[0.1, 0.3, 0.5, 0.6, 0.65, 0.7, 0.69, 0.68, 0.68],
        )
    ]
    results = tmp_path / "results"
    agg_fig, agg_tab = results / "aggregated" / "fig2.csv", results / "aggregated" / "table1.csv"
    analysis.aggregate(sgd + shg + gd + sr1, agg_fig)
    analysis.aggregate(sgd + cifar, agg_tab)
    fig = [results / "figures" / "fig2.png", results / "figures" / "fig2.pdf"]
    analysis.plot_loss_curves(agg_fig, *fig, x="epoch", title="Figure 2")
    tab = [results / "tables" / f"table1.{ext}" for ext in ("md", "tex", "csv")]
    analysis.accuracy_table(agg_tab, *tab, title="Table 1")
    artifacts = [
        {
            "name": "table1",
            "kind": "accuracy_table",
            "title": "Table 1",
            "aggregated": agg_tab,
            "outputs": tab,
        },
        {
            "name": "fig2",
            "kind": "loss_curves",
            "title": "Figure 2",
            "aggregated": agg_fig,
            "outputs": fig,
            "x": "epoch",
            "lines": "optimizer",
        },
    ]
    settings = study.load_config(REPO / "config" / "quick.yaml")
    failed = [write_failed_run(runs, seed=2)]  # a tuning run that raised: no environment
    summaries = [d / "summary.json" for d in sgd + shg + gd + sr1 + cifar + failed]
    found = analysis.write_report(
        artifacts,
        results / "report.md",
        metrics_json=results / "metrics.json",
        out_html=results / "report.html",
        settings=settings,
        summaries=summaries,
    )
    return {"results": results, "findings": {f.key: f for f in found}}


def test_sections_in_order_and_each_finding_once(report):
    text = (report["results"] / "report.md").read_text()
    assert re.findall(r"^## (.+)$", text, flags=re.M) == SECTIONS
    verdicts = text.split("## Verdicts")[1].split("## Claims")[0]
    for key in ("f1", "f2", "f3", "f4", "f5", "f6", "t1"):
        assert len(re.findall(rf"^\| \[{key}\]", verdicts, flags=re.M)) == 1
        assert len(re.findall(rf"^### {key}: ", text, flags=re.M)) == 1


def test_verdicts_numbers_and_plain_contradictions(report):
    verdicts = {k: f.verdict for k, f in report["findings"].items()}
    # SHG lower, SR1 diverged: one method each way -> inconclusive. GD is below SGD, but GD has
    # one seed and the gap is 2x, short of the 10x that one seed needs -> inconclusive too.
    assert verdicts["f1"] == "inconclusive" and verdicts["f2"] == "inconclusive"
    for key in ("f4", "f5", "f6"):
        assert report["findings"][key].summary.startswith("not in this study")
    text = (report["results"] / "report.md").read_text()
    f2 = text.split("### f2: ")[1].split("### f3: ")[0]
    assert "contradicts" not in f2 and "Shown in: [fig2](#fig2-figure-2)" in f2
    assert "| MNIST / LeNet, bs 100 | GD not lower than SGD | 100% |" in f2
    f1 = text.split("### f1: ")[1].split("### f1-mnist: ")[0]
    assert "0.1836 (0.18-0.1872, 2 seeds)" in f1  # SHG at epoch 2: mean (min-max)
    assert "contradicts" not in f1
    numbers = json.loads((report["results"] / "metrics.json").read_text())
    assert numbers["findings"] == {"holds": 0, "does_not_hold": 2, "inconclusive": 21}
    entry = numbers["table1"]["mnist-lenet-tanh-standard-sgd-bs100"]  # keyed by every setting
    assert entry["best_test_accuracy"] == pytest.approx(98.0)


def test_report_facts_from_config_models_and_summaries(report):
    text = (report["results"] / "report.md").read_text()
    assert "- **Scale**: subsets of the data" in text
    assert "| sqn | sqn | memory 10, update_interval 5, curvature_batch_size 250 |" in text
    assert "fully connected 384 -> act -> 192" in text and "3x3 stem conv (64)" in text
    assert "- MNIST (matches the original release):" in text and "`train.gz`: `f00d`" in text
    assert "| 7 | cpu |" in text
    assert "best test accuracy of 69%" in text
    assert (
        "| fig2 | MNIST / LeNet | GD | GD 0.18, SHG 0.1836, SGD 0.3636 |" in text
    )  # lowest final loss, beyond the paper
    assert "![Figure 2](figures/fig2.png)" in text
    assert "| LeNet | 98.00 ± 1.41 | 99.2 | not recorded / " in text  # then train vs test
    assert "| 70.00 | 69 | not recorded / " in text


def test_a_failed_run_is_counted_apart_from_the_devices_and_data(report):
    """A failed run's summary records its error, not where it ran: neither a row of n/a among
    the devices nor a data copy of unknown origin, but counted."""
    text = (report["results"] / "report.md").read_text()
    copies = text.split("## Data copies")[1].split("## Device and software")[0]
    devices = text.split("## Device and software")[1].split("## Paper inconsistencies")[0]
    assert "origin unknown" not in copies and copies.count("- MNIST") == 1
    rows = [line for line in devices.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 1 and rows[0].startswith("| 7 | cpu |")
    assert "Not recorded for 1 run (1 failed)" in devices


def test_links_resolve(report):
    results = report["results"]
    text = (results / "report.md").read_text()
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    targets = re.findall(r"\]\(([^)]+)\)", text)
    assert any(t.startswith("#") for t in targets) and any(t.endswith(".pdf") for t in targets)
    for target in targets:
        if target.startswith("#"):
            assert target[1:] in anchors, target
        else:
            assert (results / target).is_file(), target


def test_html_page_is_self_contained(report):
    page = (report["results"] / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and 'src="figures/' not in page
    ids = set(re.findall(r' id="([^"]+)"', page))
    for href in re.findall(r'href="([^"]+)"', page):
        if href.startswith("#"):
            assert href[1:] in ids, href
        else:
            assert (report["results"] / href).is_file(), href
    assert [h for h in re.findall(r"<h2[^>]*>(.+?)</h2>", page)] == SECTIONS
    assert "<strong>does not hold</strong>" in page and "<table>" in page


def test_html_subset(tmp_path):
    page = markdown_to_html(
        "# T\n\nA *b* **c** `d*e*` [x](#t) and 3 * 4.\n\n- a\n  - b\n- c\n\n"
        "| h | i |\n| --- | --- |\n| <1 | 2* |\n\n![missing](nope.png)\n",
        tmp_path,
        "T",
    )
    assert '<h1 id="t">T</h1>' in page
    assert 'A <em>b</em> <strong>c</strong> <code>d*e*</code> <a href="#t">x</a> and 3 * 4.' in page
    assert "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>" in page
    assert "<td>&lt;1</td><td>2*</td>" in page
    assert "Figure not found" in page
    badges = markdown_to_html("| v |\n| --- |\n| **holds** |\n", tmp_path, "T", {"holds": "holds"})
    assert '<td><span class="badge holds"><strong>holds</strong></span></td>' in badges
    assert ".badge.holds {" in badges and 'class="badge' not in page


def test_html_must_sit_next_to_the_markdown(tmp_path):
    with pytest.raises(ValueError, match="must sit next to"):
        analysis.write_report([], tmp_path / "a" / "r.md", out_html=tmp_path / "b" / "r.html")
    assert not (tmp_path / "a" / "r.md").exists()


def test_time_to_target_comes_from_the_table2_artifact(tmp_path):
    """Finding 3 reads the times of the study's Table 2 artifact, with that artifact's targets."""
    setting = "run_id,dataset,model,activation,variant,optimizer,method,batch_size,seed,status"
    csv = tmp_path / "table2.csv"
    csv.write_text(
        f"{setting},epoch,iteration,train_time_s,test_accuracy\n"
        "r0,mnist,lenet,tanh,standard,sgd,sgd,100,0,finished,0.0,0,0.0,0.1\n"
        "r0,mnist,lenet,tanh,standard,sgd,sgd,100,0,finished,0.5,300,4.0,0.91\n"
        "r0,mnist,lenet,tanh,standard,sgd,sgd,100,0,finished,1.0,600,8.0,0.99\n"
    )
    artifacts = [
        {"name": "t2", "kind": "time_to_target", "aggregated": csv, "targets": {"mnist": 0.9}}
    ]
    assert report_verdicts.table2_times(artifacts)["time_to_target_s"].tolist() == [4.0]
    assert report_verdicts.table2_times([]) is None


def test_paper_findings_link_only_the_papers_artifacts():
    """A beyond-the-paper figure draws the same SGD and SHG runs as Figure 2, but is not the
    paper's evidence: the finding links Figure 2 only."""
    finding = findings.Finding(
        key="f1", title="t", paper="p", rule="r", verdict="holds", summary="s",
        run_ids=frozenset({"sgd-run", "shg-run"}),
    )  # fmt: skip
    artifacts = [
        {"name": "fig02", "kind": "loss_curves", "x": "epoch", "title": "Figure 2"},
        {"name": "beyond", "kind": "loss_curves", "x": "epoch", "title": "B", "beyond_paper": True},
    ]
    runs = {"fig02": {"sgd-run", "shg-run"}, "beyond": {"sgd-run", "shg-run", "gn-run"}}
    assert report_verdicts.artifact_links(finding, artifacts, runs) == "[fig02](#fig02-figure-2)"


def test_the_claims_of_tuning_read_the_selection_files(tmp_path):
    """write_report hands the selection files to the findings: SQN's grid less forgiving than
    SGD's (2 tuning seeds) is "hard to tune"; SQN untuned on AlexNet/CIFAR-10 is the paper's
    "could not make SQN work"."""
    selections = [
        grid("sgd", FORGIVING),
        grid("sqn", SENSITIVE),
        grid("sgd", FORGIVING, dataset="cifar10", model="alexnet"),
        grid("sqn", per_seed(INF, INF, INF, None), dataset="cifar10", model="alexnet"),
    ]
    paths = []
    for i, selection in enumerate(selections):
        paths.append(tmp_path / "tuning" / f"group{i}.json")
        paths[-1].parent.mkdir(exist_ok=True)
        paths[-1].write_text(json.dumps(selection))
    found = analysis.write_report([], tmp_path / "report.md", selections=paths)
    verdicts = {f.key: f.verdict for f in found}
    assert verdicts["hard-to-tune"] == "holds" and verdicts["sqn-alexnet-cifar10"] == "holds"
    text = (tmp_path / "report.md").read_text()
    section = text.split("### hard-to-tune: ")[1].split("### sqn-alexnet-cifar10: ")[0]
    assert "| MNIST / LeNet, tanh, bs 100 | SQN | 4 | 25% (2 seeds) | 75% (2 seeds) |" in section
    assert (
        "| CIFAR-10 / AlexNet, tanh, bs 100 | SQN | 4 | untuned (every point excluded) |" in section
    )
    assert "**holds**" in text.split("## Verdicts")[1].split("[sqn-alexnet-cifar10]")[1]


def test_the_claims_of_tuning_link_the_tuning_section():
    finding = findings.Finding(
        key="hard-to-tune", title="t", paper="p", rule="r", verdict="holds", summary="s",
        shown_by=("tuning", "loss_curves:epoch"), run_ids=frozenset({"sqn-run"}),
    )  # fmt: skip
    artifacts = [{"name": "fig03", "kind": "loss_curves", "x": "epoch", "title": "Figure 3"}]
    runs = {"fig03": {"sqn-run"}}
    links = report_verdicts.artifact_links(finding, artifacts, runs, tuned=True)
    assert links == "[Tuning](#tuning), [fig03](#fig03-figure-3)"
    assert report_verdicts.artifact_links(finding, artifacts, runs) == "[fig03](#fig03-figure-3)"
