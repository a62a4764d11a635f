"""The pinned software: requirements.lock, the rules' conda environment and Apptainer recipe
agree with it, it satisfies pyproject.toml's ranges, and the workflow passes Snakemake's lint."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from importlib import metadata

import pytest
import yaml
from packaging.requirements import Requirement
from test_workflow import REPO, snakemake

ENVS = REPO / "workflow" / "envs"


def load_render():
    spec = importlib.util.spec_from_file_location("render", ENVS / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load_render()
LOCK = render.lock_pins((REPO / "requirements.lock").read_text())


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in project["dependencies"] + extras]


def test_the_lock_pins_every_dependency_within_its_range():
    assert len(LOCK) > 50
    for requirement in project_requirements():
        version = LOCK.get(normalise(requirement.name))
        assert version, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_the_conda_environment_pins_the_locks_versions():
    env = yaml.safe_load((ENVS / "secondorder.yaml").read_text())
    dependencies = env["dependencies"]
    assert f"python={render.PYTHON}" in dependencies
    pip = next(d["pip"] for d in dependencies if isinstance(d, dict))
    pins = dict(line.split("==") for line in pip)
    assert {normalise(k): v for k, v in pins.items()} == LOCK


def test_the_container_recipe_installs_the_lock_on_the_same_python():
    recipe = (ENVS / "secondorder.def").read_text()
    assert f"From: python:{render.PYTHON}-slim" in recipe
    assert "pip install --no-cache-dir -r /opt/secondorder/requirements.lock" in recipe
    assert "requirements.lock /opt/secondorder/requirements.lock" in recipe


def test_the_rendered_environments_are_up_to_date():
    assert (ENVS / "secondorder.yaml").read_text() == render.conda_env(LOCK)
    assert (ENVS / "secondorder.def").read_text() == render.apptainer_def()


def test_this_environment_runs_the_locked_versions_of_the_direct_dependencies():
    for requirement in project_requirements():
        name = normalise(requirement.name)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{requirement.name} is not installed; run `make test` to install the lock")
        assert installed == LOCK[name], f"{name}: {installed} installed, {LOCK[name]} locked"


def test_snakemake_lint_finds_nothing(tmp_path):
    from test_workflow import copy_workflow

    workdir = copy_workflow(tmp_path / "repo")
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr
