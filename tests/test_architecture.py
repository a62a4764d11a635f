"""The architecture as tests: the four layers of src/secondorder and what each may import, no
import cycle, torch-free modules that the DAG and the analysis read, rooms of bounded size,
thin glue, and run ids that a refactor must not change (finished runs are found by id)."""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "secondorder"

# sha256 over the sorted run ids of each config, "\n"-joined: a move, a rename or a split must
# leave them as they are (a changed id would retrain, or orphan, every finished run).
RUN_ID_DIGESTS = {
    # config.yaml: 1096 runs until fig09_authors_resnet20 (issue 19, item 7) added 196 new ones
    # and fig12_byrd_inverse_step (item 3) 16; SGD's learning-rate grid per batch size (item 5)
    # gave SGD's 24 final runs at batch 400-3200 new ids and added 20 tuning points (1328);
    # every other run id is unchanged.
    "config/config.yaml": (
        1328,
        "df568f8826dda5d4b94224f849118a99504df46794b1b765e605a87f12451b1b",
    ),
    "config/quick.yaml": (65, "b5e781316e6d0355157e1dda3adc8a3b73b345c1871d7880127e651c887418c3"),
    "config/test.yaml": (7, "fa4bddd160f3ab70f315c42e38743d58a18ebee2c64d388a3e488301cdff7448"),
}

# Layer of each top-level module or subpackage; a module imports only from its layer or below.
LAYERS = {
    "errors": 0,  # leaves every layer shares: the error type, atomic file writes
    "atomic": 0,
    "curvature": 1,  # the library: no files, no config
    "cost": 1,
    "models": 1,
    "optim": 1,
    "spec": 2,  # one run
    "data": 2,
    "training": 2,
    "study": 3,
    "analysis": 4,
    "cli": 5,  # entry points
    "glue": 5,
    "bench": 5,
    "__main__": 5,
    "__init__": 0,
}
MAX_MODULE_LINES = 400
MAX_COMMON_SMK_LINES = 120


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every secondorder module that ``path`` imports, at any depth (function-level included):
    ``from a import b`` counts as importing ``a.b`` when that is a module, else ``a``."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("secondorder"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if not base.startswith("secondorder"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {name for name in found if name != "secondorder"} - {module_name(path)}


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__" if len(parts) == 1 else parts[1]]


def test_run_ids_are_unchanged() -> None:
    from secondorder.study import expand, load_config

    for config, (count, digest) in RUN_ID_DIGESTS.items():
        ids = sorted(expand(load_config(REPO / config)))
        assert len(ids) == count, config
        assert hashlib.sha256("\n".join(ids).encode()).hexdigest() == digest, config


def test_the_paper_configs_runs_before_the_architecture_step_keep_their_ids() -> None:
    """Every run id of config.yaml at 67dd97a (before the architecture step) is still a run of
    it, except the 24 SGD final runs at batch 400-3200 whose learning-rate grid issue 19 widened
    (a changed search is a changed run)."""
    old = set((REPO / "tests" / "data" / "run-ids-config-67dd97a.txt").read_text().split())
    assert len(old) == 1096
    from secondorder.study import expand, load_config

    gone = old - set(expand(load_config(REPO / "config" / "config.yaml")))
    widened = re.compile(r"[a-z0-9]+-[a-z0-9]+-tanh__sgd__bs(400|800|1600|3200)__s\d+__[0-9a-f]{6}")
    assert len(gone) == 24 and all(widened.fullmatch(run_id) for run_id in gone), gone


def test_every_module_has_a_layer() -> None:
    unknown = {m for m in MODULES if m != "secondorder" and m.split(".")[1] not in LAYERS}
    assert not unknown, f"add these to LAYERS (and to DESIGN.md's layout): {sorted(unknown)}"


def test_no_import_cycle() -> None:
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == "open":
                cycle = [*path[path.index(target) :], target] if target in path else [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in GRAPH:
        if module not in state:
            visit(module, [module])


def test_layers_import_only_downwards() -> None:
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if target in MODULES and layer(target) > layer(module)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(
    "prefix", ["secondorder.spec", "secondorder.analysis", "secondorder.training.record"]
)
def test_torch_free_modules(prefix: str) -> None:
    """The DAG (spec), every analysis job and record readers must not pay torch's import."""
    names = [m for m in MODULES if m == prefix or m.startswith(prefix + ".")]
    code = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in names)
        + "heavy = sorted(m for m in ('torch', 'torchvision') if m in sys.modules)\n"
        + "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_modules_are_small() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these (over {MAX_MODULE_LINES} lines): {long}"


def test_common_smk_only_wires() -> None:
    lines = len((REPO / "workflow" / "rules" / "common.smk").read_text().splitlines())
    assert lines <= MAX_COMMON_SMK_LINES


@pytest.mark.parametrize("script", sorted((REPO / "workflow" / "scripts").glob("*.py")))
def test_glue_scripts_go_through_one_helper(script: Path) -> None:
    """Each glue script runs its body inside ``secondorder.glue.rule_job`` (logging to the
    rule's log, one-line errors), and holds no logic of its own beyond calls into src/."""
    tree = ast.parse(script.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "secondorder.glue"
        for alias in node.names
    }
    assert "rule_job" in imported, f"{script.name} does not use secondorder.glue.rule_job"
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert not functions, f"{script.name} defines {[f.name for f in functions]}: move to src/"
