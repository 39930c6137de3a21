"""Run every course notebook at full settings; time it and measure its peak memory.

    .venv/bin/python benchmarks/run_course.py            # all notebooks/[0-9]*.ipynb
    .venv/bin/python benchmarks/run_course.py notebooks/02_full_bptt_baseline.ipynb
    .venv/bin/python benchmarks/run_course.py --smoke    # the same in smoke mode

Each notebook runs in its own process (``--one``), which starts one Jupyter kernel and
executes the notebook with nbclient, as ``jupyter nbconvert --execute`` would; cells tagged
``raises-exception`` may raise. When the kernel has exited, the process reads the kernel's
peak resident memory from the operating system (getrusage of its waited-for children), so
each notebook's figure is its own. Executed notebooks go to course-run/; the table goes to
course-run/timings.md and to stdout.

Exit status 1 when a notebook fails, or when the course breaks its limits: 15 minutes in
total and 1 GB peak resident memory per notebook (Binder's guarantee), unless --no-limits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOTAL_LIMIT_S = 15 * 60
RSS_LIMIT_MB = 1000


def run_one(path: Path, out_dir: Path, timeout: int) -> dict:
    """Execute one notebook in a fresh kernel (this process's child); time and peak RSS."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as err:
        error = str(err).splitlines()[0] if str(err) else type(err).__name__
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel, exited and waited for
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return {
        "notebook": path.name,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss * scale / 1e6),
        "error": error,
    }


def run_isolated(path: Path, out_dir: Path, timeout: int, env: dict) -> dict:
    """run_one in a new process, so that the peak RSS belongs to this notebook alone."""
    cmd = [
        sys.executable,
        __file__,
        "--one",
        str(path),
        "--out",
        str(out_dir),
        "--timeout",
        str(timeout),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {
            "notebook": path.name,
            "seconds": float("nan"),
            "cpu_seconds": float("nan"),
            "peak_rss_mb": float("nan"),
            "error": (done.stderr.strip().splitlines() or ["runner failed"])[-1],
        }
    return json.loads(lines[-1])


def table(rows: list[dict], smoke: bool) -> str:
    total = sum(r["seconds"] for r in rows)
    peak = max(r["peak_rss_mb"] for r in rows)
    lines = [
        f"# Course run ({'smoke mode' if smoke else 'full settings'})",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, torch {_torch_version()}",
        "",
        "| notebook | seconds | CPU seconds | peak RSS (MB) | status |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        status = "ok" if not r["error"] else f"FAILED: {r['error']}"
        lines.append(
            f"| {r['notebook']} | {r['seconds']:.0f} | {r['cpu_seconds']:.0f} | "
            f"{r['peak_rss_mb']:.0f} | {status} |"
        )
    lines.append(f"| **total** | **{total:.0f}** | | **max {peak:.0f}** | |")
    lines += [
        "",
        f"Limits: {TOTAL_LIMIT_S // 60} min in total, {RSS_LIMIT_MB} MB peak RSS per notebook. "
        "Peak RSS is the kernel's (one kernel per notebook); CPU seconds are the kernel's "
        "user + system time (more than the wall time when torch uses several threads).",
    ]
    return "\n".join(lines) + "\n"


def _torch_version() -> str:
    try:
        import torch

        return torch.__version__
    except ImportError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "course-run")
    parser.add_argument("--smoke", action="store_true", help="TBPTT_KIT_SMOKE=1")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--no-limits", action="store_true")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(run_one(args.one, args.out, args.timeout)))
        return 0

    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    env = dict(os.environ)
    env.pop("TBPTT_KIT_SMOKE", None)
    if args.smoke:
        env["TBPTT_KIT_SMOKE"] = "1"
    rows = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        rows.append(run_isolated(path.resolve(), args.out, args.timeout, env))
        r = rows[-1]
        print(
            f"  {r['seconds']} s, {r['peak_rss_mb']} MB"
            + (f", FAILED: {r['error']}" if r["error"] else ""),
            flush=True,
        )
    text = table(rows, args.smoke)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "timings.md").write_text(text)
    print(text)

    failed = [r["notebook"] for r in rows if r["error"]]
    problems = [f"{n} failed" for n in failed]
    if not args.no_limits:
        total = sum(r["seconds"] for r in rows)
        if total > TOTAL_LIMIT_S:
            problems.append(f"total {total:.0f} s > {TOTAL_LIMIT_S} s")
        problems += [
            f"{r['notebook']}: {r['peak_rss_mb']} MB > {RSS_LIMIT_MB} MB"
            for r in rows
            if r["peak_rss_mb"] > RSS_LIMIT_MB
        ]
    if problems:
        print("PROBLEMS: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
