"""Malformed configs stop before any job runs, with one line naming the file and the key.

Every row of :data:`CASES` goes through ``secondorder expand --config`` (in process, and a few
in a real subprocess) and through the Snakemake path: in process for every row (Snakemake's own
reading of ``--configfile``, then the reader that workflow/rules/common.smk calls), and for a few
representative rows in a real ``snakemake -n --configfile`` subprocess (slow: one process
each), which proves the Snakefile prints that same line and nothing else. Both entry points
must print the same line. Rows marked ``snakemake_first`` fail inside Snakemake before the
Snakefile is read (it parses ``--configfile`` files while reading its command line, and offers
no hook): there Snakemake's own message stands, which names neither the file nor the line; the
tests record that as a strict xfail.
"""

from __future__ import annotations

import copy
import json
import math
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_workflow import copy_workflow, snakemake

from secondorder import cli
from secondorder.errors import ConfigError
from secondorder.study.config import load_config, load_config_files
from secondorder.study.run_checks import MIN_VALIDATION_PER_CLASS

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE_NOTICE = "Using workflow specific profile"  # Snakemake's own line, before the Snakefile

BASE = {
    "device": "cpu",
    "run": {"batch_size": 100, "epochs": 1, "train_subset": 500, "test_subset": 200},
    "optimizers": {"sgd": {"method": "sgd", "lr": 0.1}, "shg": {"method": "shg"}},
    "artifacts": {
        "t": {
            "kind": "loss_curves",
            "datasets": ["mnist"],
            "models": ["lenet"],
            "optimizers": ["sgd", "shg"],
        }
    },
}
BASE_TEXT = yaml.safe_dump(BASE, sort_keys=False)


def merged(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and value:
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Case:
    """A malformed config: its content (text, bytes, or a kind of non-file) and the key path
    (or problem) its error line must name."""

    name: str
    content: str | bytes
    names: str
    form: str = "file"  # file | directory | socket | missing
    snakemake_first: bool = False  # Snakemake itself refuses it before the Snakefile runs


def change(name: str, changes: dict, names: str) -> Case:
    return Case(name, yaml.safe_dump(merged(BASE, changes), sort_keys=False), names)


def text(name: str, content: str | bytes, names: str, **kwargs) -> Case:
    return Case(name, content, names, **kwargs)


def tuning(*rules: dict) -> dict:
    return {"tuning": list(rules)}


def artifact(**changes) -> dict:
    return {"artifacts": {"t": changes}}


def searching(validation: int | float, **artifact_changes) -> dict:
    """Changes that make preset sgd search its lr with a ``validation`` split (and change the
    artifact)."""
    changes = {
        "optimizers": {"sgd": {"lr": {"search": [0.1, 0.2]}}},
        "search": {"validation": validation},
    }
    return {**changes, **(artifact(**artifact_changes) if artifact_changes else {})}


TWO_MODELS = {
    "artifacts": {
        "t": {"optimizers": ["sgd"]},
        "u": {"kind": "loss_curves", "datasets": ["mnist"], "models": ["alexnet"]}
        | {"optimizers": ["shg"]},
    }
}

CASES = [
    # top-level keys
    change("unknown-top-key", {"colour": "red"}, "colour: unknown key"),
    change("data-root-empty", {"data_root": ""}, "data_root"),
    change("data-root-number", {"data_root": 5}, "data_root"),
    change("device-tpu", {"device": "tpu"}, "device"),
    change("device-cuda-x", {"device": "cuda:x"}, "device"),
    change("seeds-empty", {"seeds": []}, "seeds"),
    change("seeds-scalar", {"seeds": 3}, "seeds"),
    change("seed-negative", {"seeds": [-1]}, "seeds[0]"),
    change("seed-2**70", {"seeds": [0, 2**70]}, "seeds[1]"),
    change("seed-float", {"seeds": [1.5]}, "seeds[0]"),
    change("seeds-repeat", {"seeds": [0, 0]}, "seeds"),
    # run keys
    change("run-list", {"run": [1]}, "run: expected a mapping"),
    change("run-typo", {"run": {"bacth_size": 10}}, "run.bacth_size: unknown key"),
    change("batch-size-zero", {"run": {"batch_size": 0}}, "run.batch_size"),
    change("batch-size-bool", {"run": {"batch_size": True}}, "run.batch_size"),
    change(
        "batch-size-over-dataset",
        {"run": {"train_subset": None, "batch_size": 10**5}},
        "run.batch_size",
    ),
    change("epochs-float", {"run": {"epochs": 2.5}}, "run.epochs"),
    change("epochs-string", {"run": {"epochs": "3"}}, "run.epochs"),
    change("activation-sigmoid", {"run": {"activation": "sigmoid"}}, "run.activation"),
    change("variant-number", {"run": {"variant": 3}}, "run.variant"),
    change("train-subset-zero", {"run": {"train_subset": 0}}, "run.train_subset"),
    change("train-subset-over-dataset", {"run": {"train_subset": 10**6}}, "run.train_subset"),
    change("train-subset-below-batch", {"run": {"train_subset": 50}}, "run.train_subset"),
    change("test-subset-over-dataset", {"run": {"test_subset": 20000}}, "run.test_subset"),
    change("logs-per-epoch-zero", {"run": {"logs_per_epoch": 0}}, "run.logs_per_epoch"),
    change("eval-train-loss-text", {"run": {"eval_train_loss": "maybe"}}, "run.eval_train_loss"),
    change("chunk-size-negative", {"run": {"chunk_size": -1}}, "run.chunk_size"),
    change("divergence-nan", {"run": {"divergence_factor": math.nan}}, "run.divergence_factor"),
    change("divergence-inf", {"run": {"divergence_factor": math.inf}}, "run.divergence_factor"),
    change("divergence-one", {"run": {"divergence_factor": 1}}, "run.divergence_factor"),
    # model_defaults
    change("model-defaults-vgg", {"model_defaults": {"vgg": {}}}, "model_defaults.vgg"),
    change(
        "model-defaults-epochs",
        {"model_defaults": {"lenet": {"epochs": 0}}},
        "model_defaults.lenet.epochs",
    ),
    change(
        "model-defaults-subset-below-batch",
        {"model_defaults": {"lenet": {"train_subset": 10}}},
        "model_defaults.lenet.train_subset",
    ),
    # optimizer presets
    change("optimizers-empty", {"optimizers": {}}, "optimizers: define at least one"),
    change("preset-not-mapping", {"optimizers": {"sgd": 5}}, "optimizers.sgd: expected a mapping"),
    change("preset-no-method", {"optimizers": {"sgd": {"method": None}}}, "optimizers.sgd.method"),
    change("method-newton", {"optimizers": {"sgd": {"method": "newton"}}}, "optimizers.sgd.method"),
    change("hparam-typo", {"optimizers": {"sgd": {"lrr": 0.5}}}, "optimizers.sgd.lrr"),
    change("lr-negative", {"optimizers": {"sgd": {"lr": -1}}}, "optimizers.sgd.lr"),
    change("lr-quoted", {"optimizers": {"sgd": {"lr": "0.1"}}}, "optimizers.sgd.lr"),
    change("lr-nan", {"optimizers": {"sgd": {"lr": math.nan}}}, "optimizers.sgd.lr"),
    change(
        "gradient-fraction-1.5",
        {"optimizers": {"shg": {"gradient_fraction": 1.5}}},
        "optimizers.shg.gradient_fraction",
    ),
    change(
        "curvature-newton",
        {"optimizers": {"shg": {"curvature": "newton"}}},
        "optimizers.shg.curvature",
    ),
    change(
        "memory-huge",
        {"optimizers": {"q": {"method": "sqn", "memory": 2**40}}},
        "optimizers.q.memory",
    ),
    change("preset-path-name", {"optimizers": {"../x": {"method": "sgd"}}}, "optimizers.../x"),
    # tuning
    change("tuning-mapping", {"tuning": {"a": 1}}, "tuning: expected a list"),
    change(
        "tuning-unknown-key", tuning({"match": {}, "set": {"lr": 0.1}, "when": 1}), "tuning[0].when"
    ),
    change(
        "tuning-no-set", tuning({"match": {"optimizer": "sgd"}}), "tuning[0]: missing key 'set'"
    ),
    change(
        "match-dataset",
        tuning({"match": {"dataset": "cifar10"}, "set": {"cg_max_iter": 3}}),
        "tuning[0].match.dataset",
    ),
    change(
        "match-model",
        tuning({"match": {"model": "resnet18"}, "set": {"cg_max_iter": 3}}),
        "tuning[0].match.model",
    ),
    change(
        "match-activation",
        tuning({"match": {"activation": "relu"}, "set": {"cg_max_iter": 3}}),
        "tuning[0].match.activation",
    ),
    change(
        "match-variant",
        tuning({"match": {"variant": "residual"}, "set": {"cg_max_iter": 3}}),
        "tuning[0].match.variant",
    ),
    change(
        "match-batch-size",
        tuning({"match": {"batch_size": 128}, "set": {"cg_max_iter": 3}}),
        "tuning[0].match.batch_size",
    ),
    change(
        "match-optimizer",
        tuning({"match": {"optimizer": "adam"}, "set": {"lr": 0.1}}),
        "tuning[0].match.optimizer",
    ),
    change(
        "match-unknown-key",
        tuning({"match": {"colour": "red"}, "set": {"lr": 0.1}}),
        "tuning[0].match.colour",
    ),
    change(
        "match-never-together",
        {
            **TWO_MODELS,
            **tuning({"match": {"model": "alexnet", "optimizer": "sgd"}, "set": {"lr": 0.1}}),
        },
        "tuning[0].match: no run",
    ),
    change(
        "set-typo",
        tuning({"match": {"optimizer": "sgd"}, "set": {"lrr": 0.5}}),
        "tuning[0].set.lrr",
    ),
    change(
        "set-lr-zero", tuning({"match": {"optimizer": "sgd"}, "set": {"lr": 0}}), "tuning[0].set.lr"
    ),
    change("set-empty", tuning({"match": {"optimizer": "sgd"}, "set": {}}), "tuning[0].set"),
    change(
        "set-key-of-another-method",
        tuning({"match": {"dataset": "mnist"}, "set": {"cg_max_iter": 3}}),
        "tuning[0].set.cg_max_iter",
    ),
    # search: a validation split of at least one batch and a few images per class
    change("validation-one-image", searching(0.0001), "search.validation: holding out 1 of"),
    change("validation-five-images", searching(5), "search.validation: holding out 5 of"),
    change("validation-below-a-batch", searching(60), "search.validation: holding out 60 of"),
    change(
        "validation-few-per-class",
        searching(30, batch_sizes=[20]),
        "search.validation: holding out 30 of",
    ),
    change("validation-leaves-no-batch", searching(450), "search.validation: holding out 450 of"),
    # search: one budget (equal_budget), and the options are true or false
    change(
        "equal-budget-unequal-grids",
        {
            **searching(100),
            "optimizers": {
                "sgd": {"lr": {"search": [0.1, 0.2]}},
                "shg": {"damping": {"search": [0.0, 0.01, 0.1]}},
            },
            "search": {"validation": 100, "equal_budget": True},
        },
        "search.equal_budget: the presets tuned in mnist-lenet-tanh bs100 have grids of "
        "different sizes (sgd 2, shg 3 points)",
    ),
    change(
        "extend-edges-text",
        {**searching(100), "search": {"validation": 100, "extend_edges": "yes"}},
        "search.extend_edges: expected true or false",
    ),
    # artifacts
    change("artifacts-empty", {"artifacts": {}}, "artifacts: define at least one"),
    change("kind-histogram", artifact(kind="histogram"), "artifacts.t.kind"),
    change("kind-missing", artifact(kind=None), "artifacts.t.kind"),
    change("x-iterations", artifact(x="iterations"), "artifacts.t.x"),
    change("lines-colour", artifact(lines="colour"), "artifacts.t.lines"),
    change("datasets-imagenet", artifact(datasets=["imagenet"]), "artifacts.t.datasets"),
    change("datasets-empty", artifact(datasets=[]), "artifacts.t.datasets"),
    change("datasets-repeat", artifact(datasets=["mnist", "mnist"]), "artifacts.t.datasets"),
    change("models-vgg", artifact(models=["vgg"]), "artifacts.t.models"),
    change("optimizers-adamw", artifact(optimizers=["adamw"]), "artifacts.t.optimizers"),
    change("activations-sigmoid", artifact(activations=["sigmoid"]), "artifacts.t.activations"),
    change("variants-residual-lenet", artifact(variants=["residual"]), "artifacts.t.variants"),
    change("batch-sizes-zero", artifact(batch_sizes=[0]), "artifacts.t.batch_sizes"),
    change("batch-sizes-over-subset", artifact(batch_sizes=[100, 800]), "run.train_subset"),
    change("title-list", artifact(title=["a"]), "artifacts.t.title"),
    change("artifact-unknown-key", artifact(colour="red"), "artifacts.t.colour"),
    change("artifact-run-epochs", artifact(run={"epochs": 0}), "artifacts.t.run.epochs"),
    change(
        "artifact-run-subset", artifact(run={"train_subset": 20}), "artifacts.t.run.train_subset"
    ),
    change("artifact-name", {"artifacts": {"Fig 1": BASE["artifacts"]["t"]}}, "artifacts.Fig 1"),
    # YAML and file level
    text(
        "duplicate-preset",
        BASE_TEXT.replace("\noptimizers:\n", "\noptimizers:\n  sgd: {method: sgd}\n"),
        "optimizers.sgd: duplicate key",
    ),
    text("duplicate-top-key", BASE_TEXT + "device: cuda\n", "device: duplicate key"),
    text(
        "duplicate-nested",
        BASE_TEXT + "    kind: accuracy_table\n",
        "artifacts.t.kind: duplicate key",
    ),
    text(
        "syntax-error",
        "optimizers:\n  sgd: {method: sgd\nartifacts: {}\n",
        "not valid YAML",
        snakemake_first=True,
    ),
    text(
        "tab-indent", "optimizers:\n\tsgd: {method: sgd}\n", "not valid YAML", snakemake_first=True
    ),
    text(
        "python-tag",
        "seeds: !!python/object/apply:os.system ['true']\n" + BASE_TEXT,
        "not valid YAML",
        snakemake_first=True,
    ),
    text("empty-file", "", "expected a mapping at the top level", snakemake_first=True),
    text(
        "top-level-list", "- 1\n- 2\n", "expected a mapping at the top level", snakemake_first=True
    ),
    text(
        "not-utf8",
        BASE_TEXT.encode() + "# caf\u00e9\n".encode("latin-1"),
        "not UTF-8",
        snakemake_first=True,
    ),
    text("directory", "", "is a directory", form="directory", snakemake_first=True),
    text("unreadable", "", "cannot read", form="socket", snakemake_first=True),
    text("missing", "", "not found", form="missing", snakemake_first=True),
]


class NotOneLine(AssertionError):
    """The entry point did not answer with the one line the row expects."""


def make_config(case: Case, folder: Path) -> Path:
    """Put the malformed config where the entry point will look (outside any workdir)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case.name}.yaml"
    if case.form == "directory":
        path.mkdir()
    elif case.form == "socket":  # exists, but open() fails (root reads any plain file)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif case.form == "file":
        path.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode())
    return path


def expand_error(path: Path, capsys: pytest.CaptureFixture) -> str:
    """`secondorder expand --config path`, in process: its one error line (after the prefix)."""
    code = cli.main(["expand", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    prefix = "secondorder expand: error: "
    assert lines[0].startswith(prefix)
    return lines[0].removeprefix(prefix)


def test_the_table_is_large_and_names_differ():
    assert len(CASES) >= 50
    assert len({case.name for case in CASES}) == len(CASES)


def test_the_base_config_is_valid(tmp_path, capsys):
    path = tmp_path / "base.yaml"
    path.write_text(BASE_TEXT)
    assert cli.main(["expand", "--config", str(path)]) == 0
    assert len(capsys.readouterr().out.split()) == 2


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_expand_refuses_with_one_line_naming_the_file_and_key(case, tmp_path, capsys):
    path = make_config(case, tmp_path)
    line = expand_error(path, capsys)
    assert line.startswith(f"{path}:"), line
    assert case.names in line, line
    assert "Traceback" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ([path.name] if path.exists() else [])


@pytest.mark.parametrize(
    "name", ["seed-2**70", "duplicate-preset", "not-utf8", "directory", "syntax-error"]
)
def test_expand_in_a_subprocess(name, tmp_path):
    case = next(case for case in CASES if case.name == name)
    path = make_config(case, tmp_path / "configs")
    result = subprocess.run(
        [sys.executable, "-m", "secondorder", "expand", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"secondorder expand: error: {path}:") and case.names in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configs"]  # nothing written


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the workflow with a finished-looking run record that must survive."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    record = workdir / "results/runs/kept/summary.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"status": "finished"}))
    return workdir


def snapshot(workdir: Path) -> dict[str, bytes]:
    """Every file of the work directory but Snakemake's own metadata."""
    return {
        str(p.relative_to(workdir)): p.read_bytes()
        for p in workdir.rglob("*")
        if p.is_file() and ".snakemake" not in p.parts
    }


SNAKEMAKE_FIRST = pytest.mark.xfail(
    strict=True,
    raises=NotOneLine,
    reason="Snakemake parses --configfile files before the Snakefile (no hook)",
)


def marked(cases: list[Case]) -> list:
    """The rows as parameters, the ones Snakemake refuses itself as strict xfails."""
    return [
        pytest.param(case, marks=SNAKEMAKE_FIRST) if case.snakemake_first else case
        for case in cases
    ]


def snakefile_error(path: Path) -> str:
    """What the Snakemake path prints for ``--configfile path``, in process: Snakemake reads the
    file itself while it parses its command line (``ConfigSettings``, as its CLI builds it),
    then workflow/rules/common.smk reads it again with ours and prints the ConfigError alone.

    Raises :class:`NotOneLine` where Snakemake's own reading already fails (the Snakefile, and
    so our message, is never reached) or where ours accepts the file.
    """
    from snakemake.settings.types import ConfigSettings

    try:
        settings = ConfigSettings(configfiles=[path])
    except Exception as error:
        raise NotOneLine(f"Snakemake refuses {path} itself: {error!r}") from error
    # glue.read_study: the files of workflow.overwrite_configfiles, --config settings on top
    try:
        load_config_files([str(p) for p in settings.configfiles], settings.config)
    except ConfigError as error:
        return str(error)
    raise NotOneLine(f"{path}: the Snakefile's reader accepts it")


@pytest.mark.parametrize("case", marked(CASES), ids=lambda case: case.name)
def test_the_snakefile_reader_gives_the_same_line(case, tmp_path, capsys):
    path = make_config(case, tmp_path)
    line = snakefile_error(path)
    expected = expand_error(path, capsys)
    if line != expected or "\n" in line:
        raise NotOneLine(f"{line!r} != {expected!r}")


# Rows that run through a real Snakemake process: errors of each stage of our reading (a key,
# a value, a cross-check, a duplicate key Snakemake's reader lets pass, a huge and a NaN number
# that both readers must carry alike) and two that Snakemake refuses itself (YAML, no file).
SUBPROCESS_CASES = [
    "unknown-top-key",
    "seed-2**70",
    "lr-nan",
    "batch-sizes-over-subset",
    "match-never-together",
    "duplicate-preset",
    "syntax-error",
    "missing",
]


def test_the_subprocess_rows_exist_and_cover_both_outcomes():
    rows = [case for case in CASES if case.name in SUBPROCESS_CASES]
    assert len(rows) == len(SUBPROCESS_CASES)
    assert {case.snakemake_first for case in rows} == {True, False}


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    marked([case for case in CASES if case.name in SUBPROCESS_CASES]),
    ids=lambda case: case.name,
)
def test_snakemake_refuses_with_the_same_line(case, workdir, tmp_path, capsys):
    path = make_config(case, tmp_path)
    before = snapshot(workdir)
    result = snakemake(workdir, "-n", "--configfile", str(path))
    assert result.returncode == 1
    assert snapshot(workdir) == before  # nothing written, nothing lost
    lines = [line for line in result.stderr.splitlines() if not line.startswith(SNAKEMAKE_NOTICE)]
    expected = expand_error(path, capsys)
    if lines != [expected]:
        raise NotOneLine(result.stderr[-2000:])
    assert "Traceback" not in result.stdout and result.stdout.strip() == ""
    assert snakefile_error(path) == expected  # the in-process model of this path agrees


def test_config_overrides_apply_on_top_of_the_files(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(BASE_TEXT.replace("device: cpu", "device: tpu"))
    raw, study = load_config_files([path], {"device": "cpu", "run": {"epochs": 3}})
    assert raw["device"] == study["device"] == "cpu"
    assert study["run"]["epochs"] == 3 and study["run"]["train_subset"] == 500  # merged
    with pytest.raises(ConfigError) as error:
        load_config_files([path], {"device": "gpu"})
    assert str(error.value).startswith(f"{path} (with --config device): device: 'gpu'")


@pytest.mark.slow
def test_snakemake_config_overrides_still_work(workdir, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(BASE_TEXT.replace("device: cpu", "device: tpu"))
    result = snakemake(workdir, "-n", "--configfile", str(path), "--config", "device=cpu")
    assert result.returncode == 0, result.stderr


def test_a_tiny_validation_split_names_the_key_and_what_is_allowed():
    """At least one batch and MIN_VALIDATION_PER_CLASS images per class on average; bounds load."""
    lowest = max(100, MIN_VALIDATION_PER_CLASS * 10)  # batch 100; MNIST has 10 classes
    with pytest.raises(ConfigError) as error:
        load_config(merged(BASE, searching(lowest - 1)))
    line = str(error.value)
    assert line.startswith(f"search.validation: holding out {lowest - 1} of the 500 ")
    assert "\n" not in line
    assert "one batch (100)" in line
    assert f"{MIN_VALIDATION_PER_CLASS} images per class on average" in line
    assert f"allowed: {lowest} to 400 images" in line
    for validation in (lowest, 400, lowest / 500):
        load_config(merged(BASE, searching(validation)))
    few = max(20, MIN_VALIDATION_PER_CLASS * 10)  # batch 20: the per-class minimum binds
    with pytest.raises(ConfigError, match=f"allowed: {few} to 480 images"):
        load_config(merged(BASE, searching(few - 1, batch_sizes=[20])))
    load_config(merged(BASE, searching(few, batch_sizes=[20])))
    small = merged(merged(BASE, searching(0.5)), {"run": {"train_subset": 150}})  # 75 of 150
    with pytest.raises(ConfigError, match="no split of 150 images, a train_subset of at least 200"):
        load_config(small)


def test_spec_with_a_path_in_its_name_writes_nothing(tmp_path):
    """`secondorder train --spec`: the checks of a config, before anything touches the disk."""
    spec = {
        "dataset": "mnist",
        "model": "lenet",
        "activation": "tanh",
        "variant": "standard",
        "optimizer": "../../escaped",
        "method": "sgd",
        "hparams": {"lr": 0.1},
        "batch_size": 50,
        "epochs": 1,
        "seed": 0,
        "train_subset": 200,
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "secondorder", "train", "--spec", str(path), "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"secondorder train: error: {path}: optimizer: '../../escaped'")
    assert "a-z, 0-9" in line
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "spec.json",
        "work",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"dataset": "mnist",', ":1: not valid JSON: Expecting property name"),
        (b'{"dataset": "caf\xe9"}', ": cannot read the run spec: not UTF-8 text"),
        (b"[1, 2]", ": run spec: expected a mapping, got list"),
        (b'{"dataset": "mnist"}', ": run spec: missing key(s) model, activation"),
        (None, ": cannot read the run spec: Is a directory"),
    ],
)
def test_unreadable_spec_files_give_one_line(content, message, tmp_path, capsys):
    path = tmp_path / "spec.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert cli.main(["train", "--spec", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"secondorder train: error: {path}{message}"), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]
