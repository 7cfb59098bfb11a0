"""`python -m service.deploy STEP [--dry-run]`, what the scripts in deploy/ run.

Every step reads `.env` through the validated settings, refuses with every reason at once
when the deployment is not possible, and with --dry-run prints what it would change.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from service import PROJECT_ROOT
from service.config import load_settings
from service.deploy.host import Host
from service.deploy.install import install
from service.deploy.nginx import configure_nginx
from service.deploy.plan import DeployError, Deployment, host_problems, plan_deployment
from service.deploy.render import render_all, write_all
from service.deploy.rollout import LOGS, restart, show_logs
from service.deploy.units import configure_systemd

STEPS = {
    "render": "write every file to a folder for review (changes nothing else)",
    "install": "packages, the service user, private .env, the virtual environment",
    "configure-nginx": "the site: write, nginx -t, reload only if the check passed",
    "configure-systemd": "the units: write, daemon-reload, enable the target",
    "restart": "migrate, then restart the instances one at a time (--all: at once)",
    "logs": "the logs of the units (journalctl) or of Nginx",
}


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="deploy", description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, meaning in STEPS.items():
        step = steps.add_parser(name, help=meaning, description=meaning)
        step.add_argument("--root", type=Path, default=PROJECT_ROOT, help=argparse.SUPPRESS)
        if name != "render":
            step.add_argument(
                "--dry-run", action="store_true", help="print what would change; change nothing"
            )
    steps.choices["render"].add_argument(
        "--out", type=Path, help="the folder to write to [build/deploy in the checkout]"
    )
    steps.choices["restart"].add_argument(
        "--all", action="store_true", help="every instance at once instead of one at a time"
    )
    steps.choices["logs"].add_argument("which", nargs="?", choices=LOGS, default="all")
    ours, theirs = split_log_arguments(sys.argv[1:] if argv is None else argv)
    return parser.parse_args(ours), theirs


def split_log_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """`logs [WHICH] [--dry-run]` and the rest, for journalctl or tail (-f, -n 100, --since=...)
    untouched: argparse would take `100` in `-n 100` for WHICH."""
    if argv[:1] != ["logs"]:
        return argv, []
    ours, theirs = ["logs"], []
    rest = iter(argv[1:])
    for number, argument in enumerate(rest):
        if argument in {"--dry-run", "-h", "--help"} or (number == 0 and argument in LOGS):
            ours.append(argument)
        elif argument == "--root":
            ours += [argument, next(rest, "")]
        else:
            theirs.append(argument)
    return ours, theirs


def main(argv: list[str] | None = None) -> int:
    args, extra = parse(argv)
    root: Path = args.root.resolve()
    dry_run = getattr(args, "dry_run", False)
    host = Host(dry_run=dry_run)
    try:
        if not (root / ".env").is_file():
            raise DeployError([f"{root}/.env is missing: run ./setup.sh configure first."])
        settings = load_settings(env_file=root / ".env")  # a bad value: one line, exit 1
        if args.step == "logs":  # the logs of a deployment that is not right are wanted most
            show_logs(Deployment(settings, root, instances=1), host, args.which, extra)
            return 0
        deployment = plan_deployment(settings, root=root)
        for note in deployment.warnings():
            print(f"note: {note}")
        if args.step == "render":
            out = args.out or root / "build" / "deploy"
            for path in write_all(render_all(deployment), out):
                print(f"wrote {path}")
            return 0
        problems = host_problems(deployment)
        if not dry_run and os.geteuid() != 0:
            problems.append(f"run it as root: sudo deploy/{args.step}.sh (or --dry-run)")
        if problems:
            raise DeployError(problems)
        STEP_ACTIONS[args.step](deployment, host, args)
    except DeployError as error:
        print(f"deploy: {args.step} refused:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    if dry_run:
        print(f"dry run: {args.step} changed nothing")
    return 0


STEP_ACTIONS: dict[str, Callable[[Deployment, Host, argparse.Namespace], None]] = {
    "install": lambda deployment, host, _: install(deployment, host),
    "configure-nginx": lambda deployment, host, _: configure_nginx(deployment, host),
    "configure-systemd": lambda deployment, host, _: configure_systemd(deployment, host),
    "restart": lambda deployment, host, args: restart(deployment, host, all_at_once=args.all),
}

if __name__ == "__main__":
    sys.exit(main())
