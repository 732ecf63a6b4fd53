"""Azurite and profiles for `benchmarks.e2e`: one devhost under cProfile, Azurite under Node's profiler.

Run as `python -m benchmarks._e2e_profiled [devhost arguments]`, it is `python -m devhost` under cProfile in
every thread: cProfile follows only the thread that enables it and devhost runs each invocation on a pool
thread, so a hook installed with `threading.setprofile` starts one profiler per new thread, timed by that
thread's CPU time (`time.thread_time`: blocking waits on Azurite or PostgreSQL are excluded). At shutdown the
profiles are merged and written to `$E2E_PROFILE_OUT` (pstats format).

`azurite` runs Azurite's queue service in memory, as the tests do, under `node --cpu-prof` if asked (samples
every millisecond; the `.cpuprofile` is written when the service shuts down). `memory_gc_pauses` times the
pause of its garbage collection, a minute after start. `host_summary` and
`azurite_summary` turn the two profiles into own CPU time by package and a list of the dearest functions
(Azurite's over the measured span only, without its start-up).
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from devhost.queues import Storage
from tests.azurite import connection_string

ROOT = Path(__file__).resolve().parents[1]
AZURITE_MAIN = ROOT / "node_modules" / "azurite" / "dist" / "src" / "queue" / "main.js"

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


@dataclass
class Summary:
    """Own CPU time by package (shares of the profiled CPU) and the dearest functions, as text; for the
    devhost also the shares of its work (the function, completing and receiving messages), inclusive."""

    cpu_s: float
    shares: list[tuple[str, float]]
    top: str
    work: list[tuple[str, float]] = field(default_factory=list)


# -- devhost under cProfile ---------------------------------------------------------------------------


def _start_profiler(frame: FrameType, event: str, arg: Any) -> None:
    sys.setprofile(None)
    profiler = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profiler)
    profiler.enable()


def main() -> int:
    threading.setprofile(_start_profiler)
    from devhost.__main__ import main as devhost_main

    code = devhost_main(sys.argv[1:])
    threading.setprofile(None)
    out = os.environ.get("E2E_PROFILE_OUT")
    with _lock:
        profiles = [profiler for profiler in _profiles if profiler.getstats()]
    if out and profiles:
        stats = pstats.Stats(profiles[0])
        for profiler in profiles[1:]:
            try:
                stats.add(profiler)
            except Exception as error:  # a pool thread still running at exit; its share is lost
                sys.stderr.write(f"profile of one thread skipped: {error}\n")
        stats.dump_stats(out)
    return code


_PYTHON_PACKAGES = (
    ("/sqlalchemy/", "sqlalchemy"),
    ("/psycopg/", "psycopg (Python part)"),
    ("/azure/core/", "azure-core (SDK pipeline)"),
    ("/azure/storage/", "azure-storage-queue"),
    ("/urllib3/", "urllib3 / requests (HTTP to Azurite)"),
    ("/requests/", "urllib3 / requests (HTTP to Azurite)"),
    ("/http/client", "http.client (HTTP to Azurite)"),
    ("/logging/", "logging"),
    ("/devhost/", "devhost"),
    ("/shared/", "shared/ (ours)"),
    ("/pydantic", "pydantic"),
    ("/azure/functions", "azure.functions"),
    ("/opentelemetry/", "opentelemetry"),
)


def _python_package(filename: str, name: str) -> str:
    if filename == "~":
        if any(word in name for word in ("socket", "ssl", "select", "poll")):
            return "sockets (C)"
        return "other C built-ins (incl. psycopg C)"
    return next((label for marker, label in _PYTHON_PACKAGES if marker in filename), "stdlib, other")


def host_summary(path: Path, *, top: int = 18) -> Summary:
    """The devhost profile at `path`: own time by package and the `top` functions by own time."""
    stats = pstats.Stats(str(path))
    packages: dict[str, float] = defaultdict(float)
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        packages[_python_package(filename, name)] += row[2]
    buffer = io.StringIO()
    pstats.Stats(str(path), stream=buffer).sort_stats("tottime").print_stats(top)
    lines = buffer.getvalue().splitlines()
    begin = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    listing = "\n".join(_short(line) for line in lines[begin:] if line.strip())
    summary = _summary(packages, listing)
    inclusive: dict[str, float] = defaultdict(float)
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for label, (module, names) in _WORK.items():
            if filename.endswith(module) and name in names:
                inclusive[label] += row[3]
    summary.work = [(label, inclusive[label] / (summary.cpu_s or 1.0)) for label in _WORK]
    return summary


_WORK = {
    "the function (`kpi_executor`: the executor, SQLAlchemy, psycopg)": ("devhost/functions.py", {"invoke"}),
    "completing messages (delete; Azure SDK, requests)": (
        "devhost/queues.py",
        {"_delete", "_release", "_poison"},
    ),
    "receiving messages (Azure SDK, requests)": ("devhost/queues.py", {"receive"}),
}


def _short(line: str) -> str:
    for prefix in ("site-packages/", f"{ROOT}/", "/lib/python3"):
        if prefix in line:
            head, _, tail = line.partition(prefix)
            line = head[: head.rfind(" ") + 1] + tail
    return line


def _summary(packages: dict[str, float], listing: str) -> Summary:
    total = sum(packages.values()) or 1.0
    shares = sorted(((name, own / total) for name, own in packages.items()), key=lambda pair: -pair[1])
    return Summary(cpu_s=sum(packages.values()), shares=shares, top=listing)


# -- Azurite under node --cpu-prof --------------------------------------------------------------------


@dataclass(frozen=True)
class Azurite:
    connection: str
    pid: int
    profile: Path | None  #: where Node writes its CPU profile at shutdown, when profiled


@contextmanager
def azurite(workdir: Path, *, profile: bool = False) -> Iterator[Azurite]:
    """Azurite's queue service in memory, as the tests start it, on a free port until the block ends; then
    asked to stop (SIGTERM: its own graceful shutdown, which writes the profile). `profile`: under
    `node --cpu-prof` (a sample every millisecond), written to `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    out = workdir / "azurite.cpuprofile" if profile else None
    node = ["node", "--cpu-prof", f"--cpu-prof-dir={workdir}", "--cpu-prof-name=azurite.cpuprofile"]
    command = [*(node if profile else ["node"]), str(AZURITE_MAIN), "--inMemoryPersistence"]
    command += ["--queuePort", str(port), "--queueHost", "127.0.0.1", "--skipApiVersionCheck"]
    command += ["--disableTelemetry", "--silent"]
    process = subprocess.Popen(  # noqa: S603 -- the pinned npm package under the node on PATH
        command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, process)
        yield Azurite(connection_string(port), process.pid, out)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"Azurite did not listen on port {port} within 30 s")


@dataclass(frozen=True)
class Pause:
    """Azurite in memory after `messages` went through it: its longest answer, and its CPU meanwhile."""

    messages: int
    longest_s: float
    cpu_s: float


def memory_gc_pauses(workdir: Path, sizes: tuple[int, ...]) -> list[Pause]:
    """One Azurite per size, side by side: `size` messages go through each (sent, received and
    deleted by batches of 8), then a request every 0.2 s is timed until the first garbage collection after
    start-up (60 s later) has come and gone. In memory, Azurite keeps one extent per message and removes
    the unreferenced ones once a minute; the pause is how long that blocks it."""
    with ExitStack() as stack:
        started = time.monotonic()
        services = [stack.enter_context(azurite(workdir / f"memory-{size}")) for size in sizes]
        with ThreadPoolExecutor(len(sizes)) as pool:
            return list(pool.map(_pause, services, sizes, [started] * len(sizes)))


def _pause(service: Azurite, messages: int, started: float, *, timeout_s: float = 150.0) -> Pause:
    storage = Storage(service.connection)
    try:
        storage.ensure("gc-probe")
        queue = storage.queue("gc-probe")
        for number in range(messages):
            queue.send_message("eA==")
            if number % 8 == 7:
                for message in next(queue.receive_messages(messages_per_page=8).by_page(), []):
                    queue.delete_message(message.id, message.pop_receipt)
        cpu, longest = _cpu_s(service.pid), 0.0
        while time.monotonic() - started < timeout_s:
            sent = time.monotonic()
            queue.get_queue_properties()
            took = time.monotonic() - sent
            longest = max(longest, took)
            if longest > 1.0 and took < 0.1:
                break  # the collection has come and gone
            time.sleep(0.2)
        return Pause(messages, longest, _cpu_s(service.pid) - cpu)
    finally:
        storage.close()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_IDLE = "(idle)"


def _node_package(url: str, name: str) -> str:
    if not url:
        return {"(garbage collector)": "V8 garbage collector", "(program)": "V8 / native (program)"}.get(
            name, f"native {name}"
        )
    if url.startswith("node:"):
        area = url.removeprefix("node:").removeprefix("internal/").split("/")[0]
        return f"Node core ({area})"
    path = url.removeprefix("file://")
    if "/node_modules/azurite/dist/src/" in path:
        parts = path.split("/node_modules/azurite/dist/src/")[1].split("/")
        return "Azurite " + "/".join(parts[:2] if len(parts) > 2 else parts[:1])
    if "/node_modules/" in path:
        return path.rsplit("/node_modules/", 1)[1].split("/")[0]
    return "other JS"


def azurite_summary(path: Path, *, span: tuple[float, float], top: int = 15) -> Summary:
    """The Node profile at `path` over `span` (seconds since the profiler started): own time by package
    (idle excluded) and the `top` functions."""
    document = json.loads(path.read_text(encoding="utf-8"))
    nodes = {node["id"]: node for node in document["nodes"]}
    own: dict[int, float] = defaultdict(float)
    clock = 0.0
    for sample, delta in zip(document["samples"], document["timeDeltas"], strict=True):
        clock += delta / 1e6
        if span[0] <= clock <= span[1]:
            own[sample] += delta / 1e6
    packages: dict[str, float] = defaultdict(float)
    functions: dict[tuple[str, str, int], float] = defaultdict(float)
    for node_id, seconds in own.items():
        frame = nodes[node_id]["callFrame"]
        name, url = frame["functionName"] or "(anonymous)", frame["url"]
        if name == _IDLE:
            continue
        packages[_node_package(url, name)] += seconds
        functions[(name, _node_file(url), int(frame["lineNumber"]) + 1)] += seconds
    busy = sum(packages.values()) or 1.0
    ranked = sorted(functions.items(), key=lambda pair: -pair[1])[:top]
    listing = "\n".join(
        f"{seconds:8.3f} s {seconds / busy * 100:5.1f} %  {name} ({file}:{line})"
        for (name, file, line), seconds in ranked
    )
    return _summary(packages, "   own time  share  function\n" + listing)


def _node_file(url: str) -> str:
    path = url.removeprefix("file://")
    for marker in ("/node_modules/azurite/dist/src/", "/node_modules/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    return path or "native"


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
