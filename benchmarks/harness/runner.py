"""The frame every end-to-end benchmark shares: a temp dir, an overall timeout that stops every process it
started, the report, ``--json`` and ``--keep``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness.processes import Procs, tail
from benchmarks.harness.report import say


@dataclass
class Run:
    args: argparse.Namespace
    tmp: Path
    procs: Procs = field(default_factory=Procs)
    results: dict[str, Any] = field(default_factory=dict)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def run_benchmark(args: argparse.Namespace, prefix: str, run_fn: Any, report_fn: Any) -> int:
    """``run_fn(run)`` fills ``run.results`` (with ``targets``), ``report_fn(results)`` prints them. Exit
    status: 0 every target met, 1 a target missed, 2 the run itself failed."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    tmp.chmod(0o755)
    r = Run(args, tmp)

    def overall_timeout() -> None:
        say(f"benchmark exceeded --timeout {args.timeout:g} s; stopping everything")
        r.procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        os._exit(2)

    watchdog = threading.Timer(args.timeout, overall_timeout)
    watchdog.daemon = True
    watchdog.start()
    signal.signal(signal.SIGTERM, _interrupt)
    status = 2
    try:
        run_fn(r)
        report_fn(r.results)
        status = 0 if all(r.results["targets"].values()) else 1
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - report, then clean up
        say(f"benchmark failed: {exc.__class__.__name__}: {exc}")
        r.results["error"] = f"{exc.__class__.__name__}: {exc}"
        r.results["serve_log_tail"] = tail(tmp / "serve.stderr", 3000)
    finally:
        r.procs.stop_all()
        watchdog.cancel()
        if args.json:
            args.json.write_text(json.dumps(r.results, indent=2, default=str))
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status
