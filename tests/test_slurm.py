"""The workflow on a real SLURM cluster, through ``--profile profiles/slurm`` (slow).

Skipped, saying why, where no SLURM cluster answers ``sinfo``. CI starts a one-node cluster on
its own machine (``.ci/run`` -> ``tests/slurm/start-cluster.sh``; as root: install Debian's
``slurmctld slurmd slurm-client munge`` and run the script to try it here).

Two things are shown: the test config runs through the SLURM profile to every artifact, and a
training job cancelled mid-training (``scancel``) is submitted again and resumes from its
checkpoint to the record an uninterrupted run of the same spec makes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from test_workflow import (
    BASE,
    DATA,
    REPO,
    check_artifacts,
    copy_workflow,
    snakemake,
    snakemake_env,
)

from secondorder import study
from secondorder.spec import RunSpec
from secondorder.training.loop import train_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DATA / "MNIST").exists(), reason=f"no MNIST under {DATA}"),
]
CONFIG = "config/test.yaml"
START = "start one as root with tests/slurm/start-cluster.sh"


def default_partition() -> tuple[str | None, str]:
    """(the cluster's default partition, "") if a SLURM cluster answers, else (None, why not)."""
    if shutil.which("sinfo") is None:
        return None, f"no SLURM here (sinfo not installed); {START}"
    try:
        result = subprocess.run(
            ["sinfo", "--noheader", "--format", "%P|%a"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        return None, f"no SLURM cluster answers (sinfo timed out after 15 s); {START}"
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"no SLURM cluster answers (sinfo: {why}); {START}"
    partitions = [line.split("|") for line in result.stdout.split()]
    for name, available in partitions:
        if name.endswith("*") and available == "up":
            return name.rstrip("*"), ""
    return None, f"the SLURM cluster has no default partition that is up: {result.stdout!r}"


@pytest.fixture(scope="module")
def partition() -> str:
    name, why = default_partition()
    if name is None:
        pytest.skip(why)
    return name


def slurm_args(partition: str) -> list[str]:
    """The SLURM profile, with what a one-node test cluster needs on top (see
    profiles/README.md): its partition and no account (these default resources replace the
    profile's whole list, CHANGE_ME placeholders included), squeue status checks (no
    accounting database, so sacct fails), CPU training on one thread (the node has a few
    cores, no GPU), and small memory requests (this --set-resources replaces the profile's
    list, train's GPU request `gres` included)."""
    return [
        "--profile", "profiles/slurm",
        "--default-resources", f"slurm_partition={partition}", "runtime=30", "mem_mb=1000",
        "--set-resources", "prepare_data:mem_mb=1000",
        "--set-threads", "train=1",
        "--config", "device=cpu",
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "5",  # jobs of seconds: look early
        "--slurm-keep-successful-logs",
    ]  # fmt: skip


def slurm_jobs_of(run_id: str) -> list[tuple[str, str]]:
    """(job id, state) of the SLURM jobs of a training run that the controller still knows
    (finished ones for MinJobAge seconds), oldest first. The plugin puts the rule and the
    wildcards into the job's comment."""
    result = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format", "%i|%T|%k"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    jobs = [line.split("|", 2) for line in result.stdout.splitlines()]
    return sorted(
        ((job_id, state) for job_id, state, comment in jobs if run_id in comment),
        key=lambda job: int(job[0]),
    )


def test_the_test_config_runs_through_the_slurm_profile(partition, tmp_path):
    workdir = copy_workflow(tmp_path / "repo")
    started = time.monotonic()
    result = snakemake(workdir, *slurm_args(partition), "--configfile", CONFIG, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    print(f"test config through SLURM: {time.monotonic() - started:.0f} s")
    check_artifacts(workdir, CONFIG)
    # The training runs were SLURM jobs (each leaves its SLURM log), not local jobs.
    runs = study.expand(study.load_config(REPO / CONFIG))
    logs = workdir / ".snakemake" / "slurm_logs" / "rule_train"
    assert {path.parent.name for path in logs.glob("*/*.log")} == set(runs)
    again = snakemake(workdir, "-n", "--configfile", CONFIG)
    assert again.returncode == 0, again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr


# One run of several epochs, long enough to cancel after its first checkpoint.
RESUME_CONFIG = {
    **BASE,  # one SGD run of LeNet on MNIST (Table 1 kind)
    "data_root": "data/raw",
    "device": "cpu",
    "seeds": [0],
    "run": {
        "batch_size": 50,
        "epochs": 3,
        "train_subset": 3000,
        "test_subset": 200,
        "logs_per_epoch": 2,
    },
}


def test_a_cancelled_training_job_is_rerun_and_resumes_from_its_checkpoint(
    partition, tmp_path, monkeypatch
):
    workdir = copy_workflow(tmp_path / "repo")
    config = workdir / "config" / "resume.yaml"
    config.write_text(yaml.safe_dump(RESUME_CONFIG))
    (run_id,) = study.expand(study.load_config(config))
    run_dir = workdir / "results" / "runs" / run_id
    target = f"results/runs/{run_id}/summary.json"
    log = tmp_path / "snakemake.log"
    # The profile's `retries: 1` submits the cancelled job again in the same Snakemake call.
    command = [sys.executable, "-m", "snakemake", target, *slurm_args(partition)]
    command += ["--configfile", str(config)]  # (nargs="+": the target goes first)
    with log.open("w") as handle:
        process = subprocess.Popen(
            command, cwd=workdir, env=snakemake_env(), stdout=handle, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 300
            while not (run_dir / "checkpoint.pt").exists():
                assert process.poll() is None, log.read_text()[-5000:]
                assert time.monotonic() < deadline, "no checkpoint after 300 s"
                time.sleep(0.1)
            running = [job for job, state in slurm_jobs_of(run_id) if state == "RUNNING"]
            assert len(running) == 1, slurm_jobs_of(run_id)
            subprocess.run(["scancel", running[0]], check=True, timeout=30)
            process.wait(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = log.read_text()
    assert process.returncode == 0, output[-5000:]

    jobs = slurm_jobs_of(run_id)
    assert [state for _, state in jobs] == ["CANCELLED", "COMPLETED"], jobs
    assert jobs[0][0] == running[0]
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert resumed["status"] == "finished"
    assert resumed["resumed_from_epoch"] >= 1
    assert resumed["environment"]["torch_threads"] == 1

    # The same spec, uninterrupted, on the same data and thread count (in this process; from
    # the workflow's directory, as the record names the bundle's path as the job gave it).
    monkeypatch.chdir(workdir)
    reference = tmp_path / "reference"
    spec = RunSpec.from_dict(resumed["spec"])
    bundle = "data/prepared/mnist.pt"
    straight = train_run(spec, bundle, reference, device="cpu", progress=False, threads=1)
    assert straight["resumed_from_epoch"] is None
    times = ("train_time_s", "resumed_from_epoch")
    assert {k: v for k, v in resumed.items() if k not in times} == {
        k: v for k, v in straight.items() if k not in times
    }
    pd.testing.assert_frame_equal(
        pd.read_csv(run_dir / "metrics.csv").drop(columns="train_time_s"),
        pd.read_csv(reference / "metrics.csv").drop(columns="train_time_s"),
    )


def test_a_group_of_small_runs_asks_for_one_gpu_and_trains_them_side_by_side():
    """What profiles/slurm's commented `groups` lines rely on (Snakemake's group resources):
    train's `gres` string is kept, not summed; runs whose slots fit in one GPU's form one round
    (threads and memory summed), the rounds' runtimes add up."""
    from types import SimpleNamespace

    from snakemake.resources import GroupResources

    def job(slots: int, runtime: int) -> SimpleNamespace:
        resources = {"gpu_slots": slots, "_cores": 4, "mem_mb": 2000, "runtime": runtime}
        return SimpleNamespace(resources={**resources, "gres": "gpu:1"}, pipe_group=None)

    class Limits(dict):
        def get(self, key):
            return SimpleNamespace(value=dict.get(self, key))

    jobs = [job(1, 10), job(1, 10), job(1, 12), job(4, 30)]
    group = GroupResources.basic_layered([jobs], Limits(gpu_slots=4, _cores=64), run_local=False)
    assert group["gres"] == "gpu:1" and group["gpu_slots"] == 4
    assert (group["_cores"], group["mem_mb"], group["runtime"]) == (12, 6000, 12 + 30)


def test_the_slurm_profile_groups_training_runs_when_asked(tmp_path):
    """A dry run with the profile's commented group lines: training runs go out as group jobs,
    each run asking for its slots and the group's GPU as a GRES string."""
    workdir = copy_workflow(tmp_path / "repo")
    result = snakemake(
        workdir,
        *("--profile", "profiles/slurm", "--configfile", CONFIG, "-n"),
        *("--group-components", "gpu-grid=4", "gpu-extension=4", "gpu-final=4"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Group job gpu-grid" in result.stdout
    trains = result.stdout.split("rule train:")[1:]
    assert trains and all("gres=gpu:1" in job and "gpu_slots=" in job for job in trains)
