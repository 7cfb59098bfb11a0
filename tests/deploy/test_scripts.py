"""The deploy scripts as an operator runs them: --dry-run says what each would do and changes
nothing; a deployment the settings do not allow is refused with every reason at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service import PROJECT_ROOT
from tests.deploy.samples import fake_checkout, write_env

SCRIPTS = ("install", "configure-nginx", "configure-systemd", "restart", "logs")
EXTRA = {"logs": ("-n", "100")}  # passed on to journalctl, not taken for a kind of log


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROJECT_ROOT / "deploy" / f"{name}.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return fake_checkout(tmp_path / "srv" / "beacon", write_env(tmp_path / "sample.env"))


def snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    return {
        str(path): (path.lstat().st_mode, path.lstat().st_mtime)
        for path in folder.rglob("*")
        if not any(part in {".venv", "service", "deploy", "alembic"} for part in path.parts[-4:])
    }


def test_a_dry_run_says_what_it_would_do_and_changes_nothing(checkout: Path) -> None:
    before = snapshot(checkout)
    said = {
        name: run_script(name, "--dry-run", "--root", str(checkout), *EXTRA.get(name, ()))
        for name in SCRIPTS
    }
    for name, result in said.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
    assert snapshot(checkout) == before
    assert not (checkout / "instance").exists()

    install = said["install"].stdout
    assert "would run: useradd --system --user-group" in install or "beacon exists" in install
    assert f"would run: {checkout}/setup.sh install" in install
    assert "dry run: install changed nothing" in install

    nginx = said["configure-nginx"].stdout
    assert "/etc/nginx/sites-available/beacon.conf" in nginx
    assert "would check it with `nginx -t` and reload only if it passes" in nginx

    systemd = said["configure-systemd"].stdout
    for unit in ("beacon-web@.service", "beacon-migrate.service", "beacon.target"):
        assert f"/etc/systemd/system/{unit}" in systemd
    assert "would run: systemctl enable beacon.target" in systemd

    restart = said["restart"].stdout
    assert restart.index("systemctl start beacon-migrate.service") < restart.index(
        "systemctl restart beacon-web@8001.service"
    )
    assert restart.index("beacon-web@8001.service") < restart.index("beacon-web@8003.service")
    assert "would wait until 127.0.0.1:8003/readyz answers 200" in restart
    everything = run_script("restart", "--all", "--dry-run", "--root", str(checkout)).stdout
    assert "would run: systemctl restart beacon.target" in everything

    assert "journalctl --unit=beacon-web@*.service" in said["logs"].stdout
    assert said["logs"].stdout.rstrip().endswith("--unit=beacon-demo-producer.service -n 100")
    nginx_logs = run_script("logs", "nginx", "-f", "--dry-run", "--root", str(checkout)).stdout
    assert "tail -n 50 -f /var/log/nginx/beacon.access.log" in nginx_logs


def test_the_render_script_writes_every_file_for_review(checkout: Path, tmp_path: Path) -> None:
    result = run_script("render", "--root", str(checkout), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "nginx/beacon.conf" in written
    assert "systemd/examples/beacon-producer-example.service" in written


def test_settings_a_deployment_needs_are_refused_with_every_reason(
    checkout: Path, tmp_path: Path
) -> None:
    write_env(checkout / ".env", APP_ENV="development", TRUSTED_PROXY_HOPS="0")
    for name in ("install", "restart"):  # one code path refuses for every step
        result = run_script(name, "--dry-run", "--root", str(checkout))
        assert result.returncode == 1, name
        assert f"deploy: {name} refused:" in result.stderr
        assert "APP_ENV must be production" in result.stderr
        assert "TRUSTED_PROXY_HOPS must be 1 behind Nginx" in result.stderr
        assert result.stdout == ""  # refused before doing or planning anything

    write_env(checkout / ".env", PORT="eighty")
    invalid = run_script("configure-nginx", "--dry-run", "--root", str(checkout))
    assert invalid.returncode == 1
    assert invalid.stderr.strip().startswith("beacon: configuration error: PORT='eighty'")

    (checkout / ".env").unlink()
    missing = run_script("configure-systemd", "--dry-run", "--root", str(checkout))
    assert missing.returncode == 1
    assert ".env is missing: run ./setup.sh configure first" in missing.stderr
