"""Command line: ``secondorder <command>`` (also ``python -m secondorder``).

User mistakes (a malformed config, missing data, an unusable device) print one clear line and
exit with status 2; only unexpected failures show a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from secondorder import atomic
from secondorder.errors import ConfigError, DataError, DeviceError
from secondorder.spec import DATASETS, DEFAULT_DATA_ROOT

if TYPE_CHECKING:
    from secondorder.spec import RunSpec


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # torch.func's forward mode warns once from inside torch (torch.jit.script deprecation)
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )

    try:
        return args.handler(args)
    except (ConfigError, DataError, DeviceError) as error:
        print(f"secondorder {args.command}: error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secondorder",
        description="Second-order optimizers on deep CNNs: run one piece of the study.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser(
        "prepare-data", help="check a raw dataset and write the bundle that training reads"
    )
    prepare.add_argument("--dataset", required=True, help=" or ".join(DATASETS))
    prepare.add_argument(
        "--root",
        help=f"raw data root; wins over $SECONDORDER_DATA (default: it, else {DEFAULT_DATA_ROOT})",
    )
    prepare.add_argument("--out", required=True, type=Path, help="bundle file to write (.pt)")
    prepare.set_defaults(handler=_prepare)

    expand = commands.add_parser("expand", help="list the unique runs of a study config")
    expand.add_argument(
        "--config", required=True, type=Path, nargs="+", help="one, or several merged in order"
    )
    expand.add_argument("--json", action="store_true", help="print the specs as JSON")
    expand.set_defaults(handler=_expand)

    claims = commands.add_parser(
        "claims",
        help="list the paper's claims: their words, the runs they need, whether a study config "
        "runs them, and the rule that decides each (nothing is run)",
    )
    claims.add_argument("--config", required=True, type=Path)
    claims.set_defaults(handler=_claims)

    train = commands.add_parser("train", help="train one run and write its record")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", type=Path, help="a run spec as JSON (see `expand --json`)")
    source.add_argument("--run-id", help="a run id of --config")
    train.add_argument("--config", type=Path, help="study config, with --run-id")
    train.add_argument(
        "--data", type=Path, help="dataset bundle (default data/prepared/<dataset>.pt)"
    )
    train.add_argument("--out", type=Path, help="run directory (default results/runs/<run id>)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument(
        "--selection",
        type=Path,
        help="a tuned run's selection (default results/tuning/<group>.json, made by the DAG)",
    )
    train.add_argument(
        "--threads", type=int, help="CPU threads (default 1, as a Snakemake job; recorded)"
    )
    train.set_defaults(handler=_train)

    bench = commands.add_parser("bench", help="time gradients, curvature products and steps")
    bench.add_argument("--out", type=Path, default=Path("benchmarks/results/bench.json"))
    bench.add_argument("--device", default="auto")
    bench.add_argument("--data", type=Path, help="MNIST bundle (default data/prepared/mnist.pt)")
    bench.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats (a CPU smoke run)"
    )
    bench.add_argument(
        "--models", nargs="+", choices=("lenet", "alexnet", "resnet18"), help="default: all"
    )
    bench.set_defaults(handler=_bench)

    check = commands.add_parser(
        "gpu-check",
        help="try the GPU path once on one device: the test study, CPU agreement, calibration, "
        "benchmark and leases (README, 'GPU check')",
    )
    check.add_argument("--device", default="cuda", help="cuda (default), cuda:N, auto or cpu")
    check.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    check.add_argument(
        "--small", action="store_true", help="fewer networks and steps (the CPU rehearsal)"
    )
    check.add_argument("--workflow", type=Path, default=Path("."), help="checkout with Snakefile")
    check.set_defaults(handler=_gpu_check)

    plan = commands.add_parser(
        "plan",
        help="estimate a study's compute time per run and artifact, or measure the calibration",
    )
    plan.add_argument(
        "--config",
        type=Path,
        nargs="+",
        help="the study config, or several merged in order as Snakemake's --configfile merges "
        "them (config/config.yaml config/beyond.yaml); needed without --calibrate",
    )
    plan.add_argument(
        "--calibrate",
        action="store_true",
        help="measure this machine's timings (of --config's networks; default all) and merge "
        "them into the calibration file",
    )
    plan.add_argument(
        "--calibration",
        type=Path,
        help="calibration to read or write (default: results/calibration-<host>.json; reading "
        "falls back to $SECONDORDER_CALIBRATION, then the one shipped with the package)",
    )
    plan.add_argument("--device", default="auto", help="--calibrate on this device")
    plan.add_argument("--threads", type=int, default=1, help="--calibrate with these threads")
    plan.add_argument(
        "--measured",
        type=Path,
        help="Snakemake's benchmark folder of finished training jobs (results/benchmarks/train): "
        "show measured times beside the estimates",
    )
    plan.set_defaults(handler=_plan)
    return parser


def _prepare(args: argparse.Namespace) -> int:
    from secondorder.data import prepare, resolve_data_root

    meta = prepare(args.dataset, resolve_data_root(None, command_line=args.root), args.out)
    print(json.dumps(meta, indent=2))
    return 0


def _expand(args: argparse.Namespace) -> int:
    from secondorder.study import expand, load_config_files

    runs = expand(load_config_files(args.config)[1])
    if args.json:
        print(json.dumps({run_id: spec.to_dict() for run_id, spec in runs.items()}, indent=2))
    else:
        print("\n".join(runs))
    return 0


def _claims(args: argparse.Namespace) -> int:
    from secondorder.analysis.claim_needs import ArtifactRuns
    from secondorder.analysis.claims import registry_text
    from secondorder.study import load_config
    from secondorder.study.expand import artifact_specs

    study = load_config(args.config)
    artifacts = [
        ArtifactRuns(name, entry["kind"], entry.get("x"), tuple(artifact_specs(study, name)))
        for name, entry in study["artifacts"].items()
    ]
    print(registry_text(artifacts, str(args.config)), end="")
    return 0


def _train(args: argparse.Namespace) -> int:
    from secondorder.study import expand, layout, load_config
    from secondorder.training.devices import DEFAULT_THREADS
    from secondorder.training.loop import train_run

    if args.spec is not None:
        spec = _read_spec(args.spec)
    else:
        if args.config is None:
            raise ConfigError("--run-id needs --config")
        runs = expand(load_config(args.config))
        if args.run_id not in runs:
            raise ConfigError(
                f"run id '{args.run_id}' is not in {args.config}; "
                f"list them with `secondorder expand --config {args.config}`"
            )
        spec = runs[args.run_id]
    data = args.data or Path(layout.bundle(spec.dataset))
    out = args.out or Path(layout.run_dir(spec.run_id))
    threads = DEFAULT_THREADS if args.threads is None else args.threads
    selection = None
    if spec.search is not None:
        path = args.selection or Path(layout.selection(spec.tuning_group))
        try:
            selection = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"run {spec.run_id} is tuned and needs its selection {path} ({error}); make it "
                f"with `snakemake {path}` or pass --selection"
            ) from None
    summary = train_run(spec, data, out, device=args.device, threads=threads, selection=selection)
    evaluated = summary["evaluated_on"]
    best = summary[f"best_{evaluated}_accuracy"]  # null when no evaluation gave a finite one
    best_text = "n/a" if best is None else f"{best:.4f}"
    print(f"{spec.run_id}: {summary['status']}, best {evaluated} accuracy {best_text}")
    return 0


def _read_spec(path: Path) -> RunSpec:
    """A run spec (JSON) checked like a config: errors name the file and the key."""
    from secondorder.study.run_checks import check_spec

    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read the run spec: {reason}") from None
    try:
        return check_spec(values)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _bench(args: argparse.Namespace) -> int:
    from secondorder.bench import run_benchmark
    from secondorder.study import layout

    report = run_benchmark(
        args.data or Path(layout.bundle("mnist")),
        args.out,
        device=args.device,
        quick=args.quick,
        models=tuple(args.models) if args.models else None,
    )
    print(f"wrote {args.out} ({len(report['results'])} measurements)")
    return 0


def _gpu_check(args: argparse.Namespace) -> int:
    from secondorder.gpu_check import run_gpu_check

    report = run_gpu_check(args.device, args.out, small=args.small, workflow=args.workflow)
    failed = [name for name, step in report["steps"].items() if not step["ok"]]
    print(f"wrote {args.out}: {'all steps ok' if not failed else 'FAILED: ' + ', '.join(failed)}")
    return 1 if failed else 0


def _plan(args: argparse.Namespace) -> int:
    from secondorder.study import artifact_runs, calibrate, expand, load_config_files, plan, tiers

    study = load_config_files(args.config)[1] if args.config is not None else None
    if args.calibrate:
        settings = (
            calibrate.all_settings()
            if study is None
            else {(s.dataset, s.model, s.variant) for s in expand(study).values()}
        )
        out = args.calibration or calibrate.default_calibration_path()
        existing = calibrate.read_calibration(out) if out.exists() else None  # before measuring
        measured = calibrate.calibrate(settings, device=args.device, threads=args.threads)
        merged = calibrate.merge_calibrations(existing, measured)
        atomic.write_text(out, json.dumps(merged, indent=2))
        counts = f"{len(measured['settings'])} networks measured, {len(merged['settings'])} in all"
        print(f"wrote {out} ({counts})")
        return 0
    if study is None:
        raise ConfigError("plan needs --config (or --calibrate)")
    calibration = calibrate.load_calibration(args.calibration)
    runs = expand(study)
    estimate = plan.study_plan(runs, artifact_runs(study), calibration)
    measured = plan.measured_seconds(args.measured, runs) if args.measured else None
    print(plan.format_plan(estimate, calibration, measured))
    shipped = [p for p in calibrate.shipped_calibrations() if str(p) != calibration["path"]]
    priced = [calibration, *(calibrate.load_calibration(path) for path in shipped)]
    rows = tiers.tier_costs(tiers.tier_runs(study), priced)
    print("\n" + tiers.format_tiers(rows, study["run"]["epochs"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
