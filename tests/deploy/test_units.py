"""The rendered units with the real systemd tools: `systemd-analyze verify` accepts them,
`systemd-analyze security` rates their sandbox, and configure-systemd installs and enables
them (`systemctl --root`, as for an image: no running systemd is needed)."""

from __future__ import annotations

import re
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from service import PROJECT_ROOT
from service.deploy.host import Host
from service.deploy.plan import Deployment
from service.deploy.render import render_example_unit, render_units
from service.deploy.units import SystemdLayout, configure_systemd
from tests.deploy.samples import fake_checkout, sample_deployment
from tests.services import system_tool

MAX_EXPOSURE = 15  # tenths: systemd-analyze security calls up to 1.9 "OK"; ours is 1.3


def write_units(deployment: Deployment, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    units = {
        **render_units(deployment),
        "beacon-producer-example.service": render_example_unit(deployment),
    }
    paths = []
    for name, text in units.items():
        (folder / name).write_text(text)
        # The template is checked through its instances, as systemd loads it.
        paths.append(folder / name.replace("@.", f"@{deployment.ports[0]}."))
    return paths


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [system_tool("systemd-analyze"), "verify", *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("broker", ["rabbitmq", "memory"])
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path, broker: str) -> None:
    overrides = {"BROKER_URL": "memory://", "WEB_INSTANCES": "1"} if broker == "memory" else {}
    paths = write_units(sample_deployment(tmp_path, **overrides), tmp_path / "units")
    checked = verify(paths)
    # verify loads every file (an unknown key or section is a warning on stderr) and checks
    # that each Exec command exists: the units point at this checkout's virtual environment.
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""


def test_systemd_analyze_verify_fails_on_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key or a missing program is caught."""
    paths = write_units(sample_deployment(tmp_path), tmp_path / "units")
    web = tmp_path / "units" / "beacon-web@.service"
    broken = web.read_text().replace("KillMode=", "KilMode=")
    web.write_text(broken.replace("/bin/hypercorn", "/bin/hypercorm"))
    checked = verify(paths)
    assert checked.returncode != 0
    assert "Unknown key 'KilMode'" in checked.stderr
    assert "hypercorm is not executable" in checked.stderr


def test_the_sandbox_is_rated_ok(tmp_path: Path) -> None:
    deployment = sample_deployment(tmp_path)
    paths = write_units(deployment, tmp_path / "units")
    web = tmp_path / "units" / "beacon-web@8001.service"
    web.write_text((tmp_path / "units" / "beacon-web@.service").read_text())
    services = [p for p in paths if p.suffix == ".service"]
    for unit in services:
        rated = subprocess.run(
            [
                system_tool("systemd-analyze"),
                "security",
                "--offline=true",
                f"--threshold={MAX_EXPOSURE}",
                "--no-pager",
                str(unit),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        overall = re.search(r"Overall exposure level for \S+: ([\d.]+)", rated.stdout)
        assert overall, rated.stdout + rated.stderr
        assert rated.returncode == 0, f"{unit.name}: exposure {overall.group(1)}"


def test_stopping_leaves_streams_time_to_end(tmp_path: Path) -> None:
    web = render_units(sample_deployment(tmp_path))["beacon-web@.service"]
    hypercorn = tomllib.loads((PROJECT_ROOT / "deploy/hypercorn.toml").read_text())
    assert "KillMode=mixed" in web
    timeout = re.search(r"^TimeoutStopSec=(\d+)$", web, re.M)
    assert timeout
    # hypercorn waits graceful_timeout, then the app closes the bus and the database.
    assert int(timeout.group(1)) >= 3 * hypercorn["graceful_timeout"]
    for setting in ("User=beacon", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert f"\n{setting}\n" in web
    assert "\nProtectHome=yes\n" in web
    assert "\nPrivateTmp=yes\n" in web


def test_configure_systemd_installs_and_enables_the_units(tmp_path: Path) -> None:
    systemctl = system_tool("systemctl")
    image = tmp_path / "image"  # a machine's root, as systemctl --root sees it
    layout = SystemdLayout(
        unit_dir=image / "etc/systemd/system",
        systemctl=(systemctl, f"--root={image}"),
        online=False,
    )
    planned = sample_deployment(tmp_path, DEPLOY_USER="nobody")
    root = fake_checkout(tmp_path / "srv" / "beacon", tmp_path / "sample.env")
    deployment = Deployment(planned.settings, root, planned.instances)
    said: list[str] = []
    configure_systemd(deployment, Host(dry_run=False, say=said.append), layout)

    wants = image / "etc/systemd/system/multi-user.target.wants/beacon.target"
    assert wants.is_symlink()  # enabled: the target starts at boot, and with it the instances
    env = (root / ".env").stat()
    assert (env.st_uid, stat.S_IMODE(env.st_mode)) == (65534, 0o600)  # nobody's, private
    instance = (root / "instance").stat()
    assert (instance.st_uid, stat.S_IMODE(instance.st_mode)) == (65534, 0o750)
    installed = sorted(p.name for p in layout.unit_dir.glob("beacon*"))
    assert installed == [
        "beacon-demo-producer.service",
        "beacon-migrate.service",
        "beacon-web@.service",
        "beacon.target",
    ]
    checked = verify([layout.unit_dir / n for n in installed if "@" not in n])
    assert checked.returncode == 0, checked.stderr

    # A second run finds everything as wanted and changes nothing.
    again: list[str] = []
    configure_systemd(deployment, Host(dry_run=False, say=again.append), layout)
    assert not [line for line in again if line.startswith("    wrote")]
    # .env, instance/, four units, and the target already enabled
    assert sum("unchanged" in line for line in again) == 7
    assert not [line for line in again if "would" in line or "$ " in line]

    # Fewer instances, and no demo producer: the target wants less, the demo unit goes.
    smaller = Deployment(
        deployment.settings.model_copy(update={"demo_producer": "off"}), root, instances=2
    )
    configure_systemd(smaller, Host(dry_run=False, say=said.append), layout)
    target = (layout.unit_dir / "beacon.target").read_text()
    assert "Wants=beacon-web@8001.service beacon-web@8002.service\n" in target
    assert not (layout.unit_dir / "beacon-demo-producer.service").exists()
