"""The machine a step changes. Every change goes through `Host`, so that `--dry-run` prints
it instead of making it, and a second run finds nothing to do (a file already as wanted is
not written again, and says so).
"""

from __future__ import annotations

import os
import pwd
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from service.deploy.plan import DeployError


class Host:
    def __init__(self, *, dry_run: bool, say: Callable[[str], None] = print) -> None:
        self.dry_run = dry_run
        self._say = say

    def say(self, message: str) -> None:
        self._say(message)

    def step(self, title: str) -> None:
        self._say(f"==> {title}")

    def run(self, argv: Sequence[str]) -> None:
        """A command that changes the machine; its failure stops the step."""
        if self.dry_run:
            self._say(f"    would run: {shlex.join(argv)}")
            return
        self._say(f"    $ {shlex.join(argv)}")
        sys.stdout.flush()
        if subprocess.run(argv, check=False).returncode != 0:  # noqa: S603 (argv, no shell)
            raise DeployError([f"`{shlex.join(argv)}` failed (its output is above)."])

    def query(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """A command that only looks (dpkg-query, getent, nginx -t): it runs in dry runs too."""
        return subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603

    def write(self, path: Path, text: str, *, mode: int = 0o644) -> bool:
        """Make `path` hold `text` with `mode` (atomically); False when it already did."""
        if path.is_file() and path.read_text() == text and _mode(path) == mode:
            self._say(f"    unchanged: {path}")
            return False
        if self.dry_run:
            self._say(f"    would write {path} (mode {mode:o})")
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
            file.write(text)
        os.chmod(file.name, mode)
        os.replace(file.name, path)  # readers see the old file or the new one, never half
        self._say(f"    wrote {path}")
        return True

    def remove(self, path: Path) -> bool:
        if not path.exists() and not path.is_symlink():
            return False
        if self.dry_run:
            self._say(f"    would remove {path}")
        else:
            path.unlink()
            self._say(f"    removed {path}")
        return True

    def symlink(self, target: Path, link: Path) -> bool:
        if link.is_symlink() and Path(os.readlink(link)) == target:
            self._say(f"    unchanged: {link} -> {target}")
            return False
        if self.dry_run:
            self._say(f"    would link {link} -> {target}")
            return True
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        self._say(f"    linked {link} -> {target}")
        return True

    def own(self, path: Path, *, user: str, mode: int, directory: bool = False) -> None:
        """Make `path` exist (a folder if `directory`), belong to `user` (and their group)
        and have `mode`."""
        if directory and not path.is_dir():
            if self.dry_run:
                self._say(f"    would create {path}/ for {user}, mode {mode:o}")
                return
            path.mkdir(parents=True)
        try:
            account = pwd.getpwnam(user)
        except KeyError:
            if not self.dry_run:
                raise DeployError([f"no user {user}: run deploy/install.sh first"]) from None
            account = None
        stat = path.stat()
        ids = (stat.st_uid, stat.st_gid)
        if account and ids == (account.pw_uid, account.pw_gid) and _mode(path) == mode:
            self._say(f"    unchanged: {path} ({user}, mode {mode:o})")
            return
        if self.dry_run or account is None:
            self._say(f"    would give {path} to {user}, mode {mode:o}")
            return
        os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(path, mode)
        self._say(f"    {path}: {user}, mode {mode:o}")


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777
