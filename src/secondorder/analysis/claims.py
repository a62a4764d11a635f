"""The paper's claims, one entry each (:data:`CLAIMS`): the paper's words (quoted exactly), where
they stand, the runs they need (:mod:`~secondorder.analysis.claim_needs`), the finding of
:func:`~secondorder.analysis.findings.check_all` that decides them (or why none does), and
their verdict once the findings are in (:func:`claim_verdict`). ``secondorder claims`` prints
the registry for a config (:func:`registry_text`); the report has one row per claim.

A claim that no rule decides, or that a study cannot test, says so and why: never silently
absent. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from secondorder.analysis.claim_needs import (
    TUNING,
    ArtifactRuns,
    Coverage,
    Need,
    against_sgd,
    any_of,
    around,
    coverage,
    curves,
    drn,
    links,
    main,
    per_dataset,
    runs,
    sizes,
    together,
)
from secondorder.analysis.findings.verdicts import NOT_IN_STUDY, Finding

# The verdict of a claim that no finding decides.
NO_RULE = "no rule yet"
SGD, GD, SHG, SQN, SR1 = "sgd", "gd", "shg", "sqn", "lsr1"
SECOND_ORDER, QUASI_NEWTON = (SHG, SQN, SR1), (SQN, SR1)
FIG1 = ("fig01_shg_gradient_fraction",)
FIGS_2_3 = ("fig02_loss_epochs_mnist", "fig03_loss_epochs_cifar10")
FIGS_4_5 = ("fig04_loss_time_mnist", "fig05_loss_time_cifar10")
FIG6, FIG7, FIG8 = (
    "fig06_batch_size_sqn",
    "fig07_batch_size_sgd_vs_sr1",
    "fig08_batch_size_sgd_vs_shg",
)
FIGS_9 = ("fig09_resnet18_relu", "fig09_authors_resnet20")
FIG10, FIG11 = "fig10_alexnet_tanh_vs_relu", "fig11_alexnet_residual_block"
FIG12, BYRD = "fig12_fixed_lr_vs_line_search", "fig12_byrd_inverse_step"
TANH, RELU, RESIDUAL = ("tanh", "standard"), ("relu", "standard"), ("tanh", "residual")


@dataclass(frozen=True)
class Claim:
    """One claim of the paper. ``rule``: the key of the finding that decides it; None with a
    ``reason`` where none does."""

    id: str
    title: str  # in our words, short: the heading of its report section
    words: str  # the paper's, verbatim
    where: str  # abstract, section, figure or table
    need: Need  # the runs it reads
    rule: str | None
    reason: str = ""


# One claim per entry: id, title (ours), the paper's words, where, the runs it needs, the finding
# that decides it (or None and why). Laid out as a table, hence unformatted.
# fmt: off
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "f1", "Second-order methods reach a lower training loss than SGD in the same epochs",
        "Second-order methods can achieve better training loss in fewer number of epochs.",
        "Introduction; Abstract; Section 4.1; Figures 2-3",
        curves(FIGS_2_3, ("SGD and SHG, SQN or SR1 in one main setting",
                          against_sgd(main, SECOND_ORDER))),
        "f1"),
    Claim(
        "f1-mnist", "On MNIST SHG is slightly faster than SGD per epoch, quasi-Newton comparable",
        "SHG is slightly faster than SGD. Quasi-Newton methods are comparable to SGD.",
        "Figure 2; Section 4.1",
        curves(FIGS_2_3[:1], ("MNIST: SGD and SHG", against_sgd(main, [SHG], "mnist")),
               ("MNIST: SGD and SQN or SR1", against_sgd(main, QUASI_NEWTON, "mnist"))),
        "f1-mnist"),
    Claim(
        "f1-cifar10", "On CIFAR-10 SHG and quasi-Newton methods train clearly faster than SGD",
        "Clearly both inexact-Newton and quasi-Newton methods optimize the training loss faster "
        "than SGD.",
        "Figure 3; Section 4.1",
        curves(FIGS_2_3[1:], ("CIFAR-10: SGD and SHG", against_sgd(main, [SHG], "cifar10")),
               ("CIFAR-10: SGD and SQN or SR1", against_sgd(main, QUASI_NEWTON, "cifar10"))),
        "f1-cifar10"),
    Claim(
        "fig1-gradient", "SHG's gradient on 20 % of the data is enough; 100 % is not much better",
        "we show in Figure 1 that SHG with larger full gradient used is indeed better, but it's "
        "not significantly better than only partial gradients.",
        "Section 3.3; Figure 1",
        curves(FIG1, ("SHG with its gradient on 20 % and on 100 %",
                      together(runs(SHG), runs(SHG, fraction=1.0)))),
        "fig1-gradient"),
    Claim(
        "f2", "GD, with SHG's data per step, is not better than SGD and trains unlike SHG",
        "GD has a very different training loss curve from SHG. GD is actually worse than SGD in "
        "most cases",
        "Section 4.1; Figures 2-3",
        curves(FIGS_2_3, ("GD and SGD in one main setting", together(main(GD), main(SGD))),
               ("GD and SHG in one main setting", together(main(GD), main(SHG)))),
        "f2"),
    Claim(
        "f3", "In wall time SGD reaches the target first; SQN is the fastest second-order one",
        "SGD is still substantially faster than all second-order methods. Quasi-Newton methods "
        "in general take shorter time to train and achieve decent testing results. Especially "
        "SQN is the fastest among three second-order methods.",
        "Introduction; Section 4.1; Table 2; Figures 4-5",
        Need("time_to_target", ("table2_time_to_target",), (
            ("SGD, SQN and SHG or SR1 in one dataset and model", any_of(*(
                together(main(SGD), main(SQN), main(m), axes=("dataset", "model"))
                for m in (SHG, SR1)))),)),
        "f3"),
    Claim(
        "f3-shg-time", "SHG takes hundreds to thousands of times longer than SGD to finish",
        "SHG takes hundred to thousand times more to finish the training.",
        "Section 4.1; Figures 4-5",
        Need("loss_curves:time", FIGS_4_5,
             (("SGD and SHG in one main setting", against_sgd(main, [SHG])),)),
        "f3-shg-time"),
    Claim(
        "f4", "Larger batches help SHG more than SGD, and do not help SQN and SR1",
        "Larger batch size benefits inexact-Newton methods more than SGD but not the case for "
        "quasi-Newton methods.",
        "Introduction; Section 4.2; Figures 6-8",
        curves((FIG6, FIG7, FIG8),
               ("SGD and SHG at two batch sizes", sizes(runs(SGD), runs(SHG))),
               ("SGD and SQN or SR1 at two batch sizes", sizes(runs(SGD), runs(*QUASI_NEWTON)))),
        "f4"),
    Claim(
        "abstract1-large-batch", "At a large batch size SHG converges much faster than SGD",
        "When using a large batch size, inexact-Newton methods will converge much faster than SGD.",
        "Abstract (1); Section 4.2; Figure 8",
        curves((FIG8,), ("SGD and SHG at two batch sizes", sizes(runs(SGD), runs(SHG)))),
        "abstract1-large-batch"),
    Claim(
        "fig6-sqn-batch", "SQN stagnates as the batch size grows",
        "SQN works well when batch size is small but the training becomes stagnant when batch "
        "size becomes larger.",
        "Section 4.2; Figure 6",
        curves((FIG6,), ("SQN at two batch sizes", sizes(runs(SQN)))),
        "fig6-sqn-batch"),
    Claim(
        "fig7-sr1-batch", "As the batch grows, SGD outperforms SR1 on both datasets",
        "As batch size grows, SGD outperforms SR1 on both datasets.",
        "Figure 7; Section 4.2",
        curves((FIG7,), *per_dataset("SGD and SR1 at two batch sizes",
                                     lambda d: sizes(runs(SGD, on=d), runs(SR1)))),
        "fig7-sr1-batch"),
    Claim(
        "f4-sgd-400", "SGD benefits a bit from batches growing to 400, but not from larger ones",
        "SGD benefits a bit when batch size grows to 400 but not larger.",
        "Figure 8; Section 4.2",
        curves((FIG7, FIG8), ("SGD at batch 400, below and above", around(runs(SGD), 400))),
        "f4-sgd-400"),
    Claim(
        "f5", "ReLU and identity links hurt SHG but not the quasi-Newton methods",
        "Network structures with zero second-order derivatives will deteriorate performance of "
        "inexact-Newton methods but not quasi-Newton methods.",
        "Introduction; Section 4.3; Figures 9-11",
        curves((FIG10, FIG11),
               ("SGD and SHG with a link changed", any_of(
                   links((SGD, SHG), TANH, RELU), links((SGD, SHG), TANH, RESIDUAL))),
               ("SGD and SQN or SR1 with a link changed", any_of(*(
                   links((SGD, m), TANH, k) for m in QUASI_NEWTON for k in (RELU, RESIDUAL))))),
        "f5"),
    Claim(
        "fig10-relu", "ReLU hurts SHG but not SR1 (AlexNet)",
        "Apparently using ReLu in deep neural networks deteriorates performance of SHG but not "
        "SR1.",
        "Figure 10; Section 4.3",
        curves((FIG10,), ("SGD, SHG and SR1 with tanh and with ReLU",
                          links((SGD, SHG, SR1), TANH, RELU))),
        "fig10-relu"),
    Claim(
        "f5-fig9", "SHG trains the DRN (ReLU) on MNIST but fails on CIFAR-10",
        "Although SHG can still optimize DRN on MNIST well, it fails to converge to better "
        "training loss on CIFAR-10 dataset.",
        "Figure 9; Section 4.3",
        curves(FIGS_9, *per_dataset("SGD and SHG on the DRN",
                                    lambda d: against_sgd(drn, [SHG], d))),
        "f5-fig9"),
    Claim(
        "f5-fig11", "The identity link (residual block) hurts SHG less than ReLU",
        "The influence of identity link is not as strong as ReLu but still affects the "
        "performance of SHG.",
        "Figure 11; Section 4.3",
        curves((FIG10, FIG11), ("SGD and SHG with tanh, with ReLU and with the residual block",
                                links((SGD, SHG), TANH, RELU, RESIDUAL))),
        "f5-fig11"),
    Claim(
        "f5-drn-qn", "Quasi-Newton methods are competitive with SGD on the DRN with ReLU",
        "Quasi-newton methods are competitive with SGD even when using ReLu activation function "
        "(which has no curvature) on residual networks.",
        "Abstract (2); Section 4.3; Conclusions",
        curves(FIGS_9, *per_dataset("SGD and SQN or SR1 on the DRN",
                                    lambda d: against_sgd(drn, QUASI_NEWTON, d))),
        "f5-drn-qn"),
    Claim(
        "drn-qn-lower", "On the DRN quasi-Newton methods reach a lower loss than SGD",
        "Besides, we observe that it converges to smaller training loss than SGD on both MNIST "
        "and CIFAR-10.",
        "Section 4.3",
        curves(FIGS_9, *per_dataset("SGD and SQN or SR1 on the DRN",
                                    lambda d: against_sgd(drn, QUASI_NEWTON, d))),
        "drn-qn-lower"),
    Claim(
        "f6", "Second-order methods fail with a fixed learning rate; line search is essential",
        "In sum, second-order methods will not work on most of cases as shown in figure 12.",
        "Section 4.4; Figure 12; Introduction",
        curves((FIG12,), ("a fixed-step second-order run and its line-search twin", any_of(*(
            together(runs(m, line_search=False), runs(m)) for m in SECOND_ORDER)))),
        "f6"),
    Claim(
        "byrd-step", "Byrd et al.'s 1/k step size does not work in most experiments",
        "While in (Byrd et al., 2016) a decaying schedule 1/k, where k is the current number of "
        "iteration, is proposed to be the step size of each update, in practice we find out "
        "this scheme does not work on most of our experiments.",
        "Section 3.4",
        curves((BYRD,), ("SQN with the step beta/k and with its line search", together(
            runs(SQN, line_search=False, hparams={"step_schedule": "inverse"}), runs(SQN)))),
        "byrd-step"),
    Claim(
        "hard-to-tune", "Second-order methods are too sensitive to their hyperparameters",
        "However, current methods are too sensitive to parameters and not easy to tune for "
        "different settings.",
        "Abstract; Sections 4.1-4.2; Figure 6",
        Need(TUNING, FIGS_2_3, (("SGD and SHG, SQN or SR1 tuned in one setting", any_of(*(
            together(runs(SGD), runs(m)) for m in SECOND_ORDER))),)),
        "hard-to-tune"),
    Claim(
        "sqn-alexnet-cifar10", "No hyperparameters make SQN work on AlexNet/CIFAR-10",
        "we could not find a set of parameters to make SQN work with AlexNet on CIFAR-10.",
        "Section 4.1; Table 2",
        Need(TUNING, FIGS_2_3[1:], (("SQN tuned on AlexNet (tanh), CIFAR-10", together(
            runs(SQN, on="cifar10", model="alexnet", activation="paper", variant="standard"))),)),
        "sqn-alexnet-cifar10"),
    Claim(
        "t1", "Fixed-learning-rate SGD reaches the paper's Table 1 best test accuracies",
        "Best testing accuracy achieved by fixed learning rate SGD for each model is listed in "
        "Table 1.",
        "Section 3.2; Table 1",
        Need("accuracy_table", ("table1_sgd_test_accuracy",), tuple(
            (f"SGD on {d} / {m}", together(runs(SGD, on=d, model=m, activation="paper")))
            for d in ("mnist", "cifar10") for m in ("lenet", "alexnet", "resnet18"))),
        "t1"),
)
# fmt: on


def claim_verdict(claim: Claim, found: Mapping[str, Finding]) -> str:
    """The claim's verdict given the findings by key: its finding's, "not in this study" where
    the study has no runs for it, :data:`NO_RULE` without a rule (or its finding)."""
    finding = found.get(claim.rule) if claim.rule else None
    if finding is None:
        return NO_RULE
    return NOT_IN_STUDY if finding.summary.startswith(NOT_IN_STUDY) else finding.verdict


def claim_coverage(claim: Claim, artifacts: Sequence[ArtifactRuns]) -> Coverage:
    """Whether the artifacts of a config run what the claim needs."""
    return coverage(claim.need, artifacts)


def _one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def registry_text(artifacts: Sequence[ArtifactRuns], source: str, width: int = 96) -> str:
    """The registry as ``secondorder claims`` prints it for a config's `artifacts`: per claim
    its id and place, the paper's words on one line, what it needs, whether the config runs it
    and its rule; then which claims the config cannot test."""
    lines = [f"{len(CLAIMS)} claims of the paper, against {source} (nothing is run):", ""]
    absent = []
    for claim in CLAIMS:
        lines += [f"{claim.id}  ({claim.where})", f'  "{_one_line(claim.words, width - 4)}"']
        found, need = claim_coverage(claim, artifacts), claim.need
        lines.append(f"  needs: {need.kind}: {need.what} (paper: {', '.join(need.names)})")
        named = [name for name in found.artifacts if name in need.names] or found.artifacts[:2]
        shown = ", ".join(named) or "no artifact"
        if len(found.artifacts) > len(named):
            shown += f" (and {len(found.artifacts) - len(named)} more with these runs)"
        if found.missing:
            absent.append(claim.id)
            lines.append(
                f"  runs:  {NOT_IN_STUDY}: no {'; no '.join(found.missing)} (has: {shown})"
            )
        else:
            lines.append(f"  runs:  yes: {shown}")
        lines += [f"  rule:  {claim.rule or 'none, ' + claim.reason}", ""]
    ruled = sum(c.rule is not None for c in CLAIMS)
    others = f"; the others: {NO_RULE}" if ruled < len(CLAIMS) else ""
    lines.append(f"{ruled} of {len(CLAIMS)} claims decided by a rule{others}.")
    if absent:
        lines.append(f"{NOT_IN_STUDY}: {', '.join(absent)}.")
    else:
        lines.append(f"None {NOT_IN_STUDY}: the config runs what every claim needs.")
    return "\n".join(lines) + "\n"
