"""What the benchmark reads from the system: a process's CPU seconds and resident memory (from
/proc), nginx's worker processes, free loopback ports."""

from __future__ import annotations

import os
import resource
import socket
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Meter:
    pid: int

    def cpu_seconds(self) -> float:
        """User plus system time so far."""
        # Fields after the command name, which sits in parentheses and may contain spaces.
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"process {self.pid} has no VmRSS")


def children_of(pid: int) -> list[int]:
    """Direct child processes (nginx's workers under its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def raise_open_file_limit() -> None:
    """Tens of thousands of sockets: the servers and the load generator inherit this."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 200_000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
