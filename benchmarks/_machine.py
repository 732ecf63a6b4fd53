"""What the benchmark ran on: CPUs, memory, versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sqlite3
import subprocess
from pathlib import Path


def machine(postgres_version: str | None, exporter_version: str | None) -> dict[str, str]:
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout  # noqa: S607
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": model.group(1).strip() if model else platform.processor(),
        "Memory (free -h)": " ".join(free.splitlines()[1].split()[1:3]) + " (total, used)" if free else "?",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres_version or "not used",
        "SQLAlchemy / psycopg": f"{_version('sqlalchemy')} / {_version('psycopg')}",
        "query-exporter": exporter_version or "not run",
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"
