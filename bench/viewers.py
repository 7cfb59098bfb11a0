"""Viewers: the compiled load generator (bench/loadgen.c), driven over its stdin and stdout."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SOURCE = HERE / "loadgen.c"
BINARY = HERE / "build" / "loadgen"


def build_loadgen() -> Path:
    """Compile the load generator if it is missing or older than its source."""
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BINARY
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("bench: a C compiler is needed (apt-get install gcc)")
    BINARY.parent.mkdir(exist_ok=True)
    subprocess.run([compiler, "-O2", "-Wall", "-o", str(BINARY), str(SOURCE)], check=True)
    return BINARY


class Viewers:
    """N connections to one server, each reading a stream; one load generator process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @classmethod
    async def start(
        cls, *, port: int, mode: str, count: int, targets: Path, core: int | None, rate: int = 500
    ) -> Viewers:
        """A load generator pinned to `core` (None: wherever the kernel puts it)."""
        pin = ["taskset", "-c", str(core)] if core is not None else []
        process = await asyncio.create_subprocess_exec(
            *pin,
            str(build_loadgen()),
            "--port",
            str(port),
            "--mode",
            mode,
            "--conns",
            str(count),
            "--targets",
            str(targets),
            "--rate",
            str(rate),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _ask(self, command: str, seconds: float = 120) -> dict[str, Any]:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(f"{command}\n".encode())
        await self._process.stdin.drain()
        line = await asyncio.wait_for(self._process.stdout.readline(), seconds)
        if not line:
            raise RuntimeError(f"loadgen exited (status {await self._process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def connect(self) -> dict[str, Any]:
        """Open every connection; returns how many are streaming."""
        return await self._ask("connect", seconds=300)

    async def reconnect(self, count: int = 0) -> dict[str, Any]:
        """Close `count` connections (0: all) and open them again, each resuming after the
        last event id it saw; returns how many are streaming."""
        return await self._ask(f"reconnect {count}", seconds=300)

    async def reset(self, from_seq: int) -> None:
        """Start a window that counts events with sequence number >= from_seq."""
        await self._ask(f"reset {from_seq}")

    async def report(self) -> dict[str, Any]:
        return await self._ask("report")

    async def close(self, how: str = "fin") -> None:
        await self._ask(f"close {how}")

    async def stop(self) -> None:
        if self._process.returncode is None:
            assert self._process.stdin
            self._process.stdin.write(b"quit\n")
            await self._process.stdin.drain()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()


def write_targets(path: Path, lines: list[tuple[str, str]]) -> Path:
    """The load generator's targets file: one "PATH<TAB>COOKIE" line per viewer."""
    path.write_text("".join(f"{target}\t{cookie}\n" for target, cookie in lines))
    return path
