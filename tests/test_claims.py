"""The claims registry: every claim of the paper in its own words, with what it needs and the
rule that decides it; `secondorder claims` against the paper's and the quick config; the
report's verdict table with one row per claim."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from test_report import report  # noqa: F401 (the synthetic study's report, a fixture)

from secondorder import cli
from secondorder.analysis import findings, paper
from secondorder.analysis.claims import CLAIMS, NO_RULE, claim_verdict
from secondorder.analysis.findings import Finding, check_all
from secondorder.analysis.report.verdicts import BADGES

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO.parent / "shared" / "paper.md"
THREAD = REPO.parent / "shared" / "reference" / "openreview-thread.md"
# What config/quick.yaml does not run: batch 400 (its batch grid is 50-200), the DRN on
# CIFAR-10, SQN with Byrd et al.'s step, SQN tuned on AlexNet/CIFAR-10.
QUICK_ABSENT = [
    "f4-sgd-400",
    "f5-fig9",
    "f5-drn-qn",
    "drn-qn-lower",
    "byrd-step",
    "sqn-alexnet-cifar10",
]


def test_every_claim_has_its_words_place_needs_and_rule():
    ids = [c.id for c in CLAIMS]
    assert len(ids) >= 19 and len(set(ids)) == len(ids)
    for claim in CLAIMS:
        assert claim.title and claim.where and claim.need.names and claim.need.parts, claim.id
        assert claim.rule is not None or claim.reason.startswith("no rule"), claim.id


@pytest.mark.skipif(not PAPER.exists(), reason=f"no paper text at {PAPER}")
def test_the_words_are_the_papers():
    text = PAPER.read_text()
    for claim in CLAIMS:
        assert claim.words in text, claim.id


@pytest.mark.skipif(not (PAPER.exists() and THREAD.exists()), reason="no paper or thread text")
def test_the_inconsistencies_quote_the_paper_and_the_authors_reply():
    """The DRN's layers, its activation and SHG's CG steps: each quote of the paper's text is
    in the paper, each of the authors' reply in the review thread's notes."""
    items = paper.inconsistencies()
    drn, relu, cg = items[-3:]
    assert "18 layers in the paper's text" in drn and "20 in the authors' reply" in drn
    assert "trains its DRN with ReLU" in relu and "tanh replaced ReLU" in relu
    assert "no number of CG steps" in cg and "reply says 10 " in cg
    text, thread = PAPER.read_text(), THREAD.read_text()
    for quote in re.findall(r'"([^"]+)"', "\n".join(items[-3:])):
        assert quote in text or quote in thread, quote


def test_every_rule_is_a_finding_and_every_finding_a_claims_rule():
    keys = [f.key for f in check_all(pd.DataFrame())]
    rules = [c.rule for c in CLAIMS if c.rule is not None]
    assert set(rules) <= set(keys), set(rules) - set(keys)
    assert set(keys) <= set(rules), f"findings no claim cites: {set(keys) - set(rules)}"
    assert len(rules) == len(set(rules))


def test_a_claims_verdict():
    claim = next(c for c in CLAIMS if c.rule == "f1")
    unruled = replace(claim, rule=None, reason="no rule yet: for the test")

    def finding(verdict: str, summary: str) -> Finding:
        return Finding("f1", "t", "p", "r", verdict, summary)

    assert claim_verdict(claim, {"f1": finding(findings.FAILS, "x")}) == findings.FAILS
    absent = finding(findings.UNCLEAR, f"{findings.NOT_IN_STUDY}: no runs")
    assert claim_verdict(claim, {"f1": absent}) == findings.NOT_IN_STUDY
    assert claim_verdict(claim, {}) == NO_RULE
    assert claim_verdict(unruled, {"f1": finding(findings.HOLDS, "x")}) == NO_RULE


def claims_output(capsys: pytest.CaptureFixture[str], config: str) -> str:
    assert cli.main(["claims", "--config", str(REPO / config)]) == 0
    return capsys.readouterr().out


def test_the_paper_config_runs_what_every_claim_needs(capsys):
    out = claims_output(capsys, "config/config.yaml")
    assert [line.split()[0] for line in re.findall(r"^\S.*$", out, flags=re.M)[1:-2]] == [
        c.id for c in CLAIMS
    ]
    assert out.count("  runs:  yes: ") == len(CLAIMS)
    assert out.rstrip().endswith("None not in this study: the config runs what every claim needs.")
    assert "  rule:  f4-sgd-400\n" in out and "  rule:  none" not in out
    assert f"\n{len(CLAIMS)} of {len(CLAIMS)} claims decided by a rule.\n" in out
    assert "  rule:  hard-to-tune\n" in out and "  rule:  sqn-alexnet-cifar10\n" in out


def test_the_quick_config_says_which_claims_it_cannot_test(capsys):
    out = claims_output(capsys, "config/quick.yaml")
    assert out.rstrip().splitlines()[-1] == f"not in this study: {', '.join(QUICK_ABSENT)}."
    assert "not in this study: no CIFAR-10: SGD and SHG on the DRN (has: fig09_resnet18_relu" in out


def test_the_verdict_table_has_one_row_per_claim(report):  # noqa: F811
    text = (report["results"] / "report.md").read_text()
    table = text.split("## Verdicts")[1].split("How a verdict is decided")[0]
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    assert [re.match(r"\| \[([^\]]+)\]", r)[1] for r in rows] == [c.id for c in CLAIMS]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 5 and cells[2].strip("*") in BADGES, row
        assert not re.search(r"\([^()]*\(", cells[3]), f"nested counts in {cells[3]}"
    assert "| f1 |" not in table and "SHG: holds (" not in table
    for name, _, _ in findings.THRESHOLDS:
        assert f"| `{name}` |" in text
    sections = text.split("## Claims")[1].split("## Artifacts")[0]
    for claim in CLAIMS:
        assert len(re.findall(rf"^### {re.escape(claim.id)}: ", sections, flags=re.M)) == 1
    page = (report["results"] / "report.html").read_text()
    assert '<span class="badge absent"><strong>not in this study</strong></span>' in page
    assert '<span class="badge unclear"><strong>inconclusive</strong></span>' in page
