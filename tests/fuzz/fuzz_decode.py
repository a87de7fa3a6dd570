"""Long-form fuzzing of the device decoders (issue 12, finding 4); not part of the test run.

    .venv/bin/python tests/fuzz/fuzz_decode.py [--hypothesis 60000] [--atheris 200000] [--out DIR] [--seed N]

Every input goes through ``tests.support.wire_checks.check``, the invariants the unit tests and the
corpus replay hold the decoders to: no exception, times within 1900-2199, fast and detailed paths agreeing,
a panic object always one press, rejections quoting no coordinate. Two fuzzers, one after the other:

1. hypothesis, structure-aware: topics (v1 location/status/panic, OwnTracks, odd ones), JSON objects and
   arrays of the contract's fields with hostile values (RFC 3339-shaped times with years 0000-9999, any
   field values and offsets, huge and non-finite numbers, nested values), valid messages with random byte
   edits, and raw bytes;
2. atheris (libFuzzer, coverage-guided over service/wire), when it is installed: raw payloads on each
   topic, ``ts`` texts (arbitrary, or RFC 3339-shaped with every field chosen by the fuzzer) and OwnTracks
   ``tst`` integers of 1 to 9 bytes inside otherwise valid messages, backfill arrays, odd topics, and
   ``parse_ts`` on arbitrary text. Runs in a child process (libFuzzer ends its process).

Also per input: bounded time (an input taking more than ``--max-input-s``, default 1 s, is a failure).
A failing input is written to ``--out`` (default a temporary directory) in the corpus format of
tests/unit/corpus/wire/: once fixed, copy it there with its ``expect`` so it stays a regular test.
Exit status: 0 when every input passed, 1 when one failed, 2 when a fuzzer could not run as asked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECEIVED_AT_ISO = "2026-11-21T08:16:00+00:00"
V1_TOPICS = [f"stayaway/v1/devices/{d}/{k}" for d in ("trk-001", "phone-001") for k in ("location", "status", "panic")]
OWNTRACKS_TOPIC = "owntracks/alice/phone"
CHUNK = 5000
EDGE_YEARS = [0, 1, 2, 1899, 1900, 1901, 1969, 1970, 2000, 2038, 2199, 2200, 9998, 9999]
FIELDS = ["seq", "ts", "lat", "lon", "acc", "spd", "hdg", "batt", "src", "device_id", "charging", "strap", "case",
          "gps", "silent", "_type", "tst", "vel", "cog", "t", "tid"]


class Failure(Exception):
    pass


class Tracker:
    """Counts inputs, keeps the slowest, writes a failing input to ``out``."""

    def __init__(self, out: Path, max_input_s: float) -> None:
        self.out, self.max_input_s = out, max_input_s
        self.n, self.slowest, self.failures = 0, 0.0, 0

    def run(self, topic: str, payload: bytes, label: str) -> None:
        from tests.support.wire_checks import case_json, check

        self.n += 1
        t = time.perf_counter()
        try:
            check(topic, payload)
        except Exception as exc:
            self._save(topic, payload, f"{label}: {exc.__class__.__name__}: {str(exc)[:200]}", case_json)
            raise
        took = time.perf_counter() - t
        self.slowest = max(self.slowest, took)
        if took > self.max_input_s:
            self._save(topic, payload, f"{label}: took {took:.3f} s", case_json)
            raise Failure(f"one input took {took:.3f} s (bound {self.max_input_s} s)")

    def _save(self, topic: str, payload: bytes, why: str, case_json: Any) -> None:
        self.failures += 1
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"found-{os.getpid()}-{self.failures:03d}.json"
        path.write_text(case_json(topic, payload, why, None), encoding="utf-8")
        print(f"failing input written to {path}", file=sys.stderr)


# -- 1. hypothesis ---------------------------------------------------------------------------------------
def run_hypothesis(n: int, seed: int, tracker: Tracker) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    two = st.integers(0, 99).map(lambda v: f"{v:02d}")
    offsets = st.one_of(st.sampled_from(["Z", "z", "", "+00:00", "-00:00"]),
                        st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), two, two))
    times = st.builds(lambda y, mo, d, sep, h, mi, s, frac, off: f"{y:04d}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{off}",
                      st.one_of(st.integers(0, 9999), st.sampled_from([1, 1899, 1900, 1901, 1970, 2199, 2200, 9999])),
                      two, two, st.sampled_from(["T", "t", " "]), two, two, two,
                      st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,12}", fullmatch=True)), offsets)
    numbers = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([2**40, 2**63 - 1, 2**63, 2**64, -1, 0]),
                        st.floats(allow_nan=True, allow_infinity=True))
    scalars = st.one_of(st.none(), st.booleans(), numbers, times, st.text(max_size=30),
                        st.sampled_from(["gps", "wifi", "cell", "open", "closed", "fix", "no_fix", "location",
                                         "transition", "lwt", "trk-001", "phone-001"]))
    values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                          max_leaves=8)
    objects = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), values, max_size=10)
    valid = st.fixed_dictionaries({"seq": st.integers(0, 2**63 - 1), "ts": times,
                                   "lat": st.floats(-90, 90), "lon": st.floats(-180, 180), "acc": st.floats(0.1, 5000)},
                                  optional={"_type": st.sampled_from(["location", "transition", "lwt"]),
                                            "tst": numbers, "strap": st.just("open"), "silent": st.booleans()})
    edits = st.lists(st.tuples(st.sampled_from("idr"), st.integers(0, 10_000), st.binary(min_size=1, max_size=3)),
                     max_size=4)

    def dump(o: Any) -> bytes:
        return json.dumps(o, allow_nan=True, default=str).encode()

    def edited(body: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
        b = bytearray(body)
        for op, at, data in ops:
            at = at % (len(b) + 1)
            if op == "i":
                b[at:at] = data
            elif op == "d":
                del b[at:at + len(data)]
            else:
                b[at:at + len(data)] = data
        return bytes(b)

    payloads = st.one_of(
        objects.map(dump), st.lists(objects, max_size=5).map(dump), st.lists(valid, max_size=5).map(dump),
        valid.map(dump), st.tuples(valid.map(dump), edits).map(lambda t: edited(*t)), st.binary(max_size=200),
        values.map(dump))
    topics = st.one_of(st.sampled_from([*V1_TOPICS, OWNTRACKS_TOPIC]), st.sampled_from([*V1_TOPICS, OWNTRACKS_TOPIC]),
                       st.text(max_size=70), st.builds(lambda d, k: f"stayaway/v1/devices/{d}/{k}", st.text(max_size=70),
                                                      st.sampled_from(["location", "status", "panic"])))

    # in runs of CHUNK examples, each with its own seed: one long run slows down and grows (hypothesis
    # remembers what it generated)
    for k, start in enumerate(range(0, n, CHUNK)):
        @hseed(seed * 1_000_003 + k)
        @settings(max_examples=min(CHUNK, n - start), database=None, deadline=None, phases=[Phase.generate],
                  print_blob=False, suppress_health_check=list(HealthCheck))
        @given(topic=topics, payload=payloads)
        def fuzz(topic: str, payload: bytes) -> None:
            tracker.run(topic, payload, "hypothesis")

        fuzz()


# -- 2. atheris (a child process) ------------------------------------------------------------------------
def atheris_child(n: int, seed: int, tracker: Tracker, stats: Path) -> None:
    import atheris

    with atheris.instrument_imports(include=["service.wire"]):
        import service.wire.decode
        import service.wire.owntracks  # noqa: F401
        from service.wire import rfc3339

    written = [0.0]

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        mode = fdp.ConsumeIntInRange(0, 6)
        topic = [*V1_TOPICS, OWNTRACKS_TOPIC][fdp.ConsumeIntInRange(0, len(V1_TOPICS))]
        if mode == 0:
            tracker.run(topic, fdp.ConsumeBytes(fdp.remaining_bytes()), "atheris raw")
        elif mode in (1, 2):
            ts = fdp.ConsumeUnicodeNoSurrogates(48) if mode == 1 else _fields_ts(fdp)
            body = {"seq": 7, "ts": ts, "lat": 30.4310123, "lon": 103.8615456, "acc": 12.5, "strap": "closed"}
            tracker.run(topic if topic != OWNTRACKS_TOPIC else V1_TOPICS[0], json.dumps(body).encode(), "atheris ts")
        elif mode == 3:
            tst = fdp.ConsumeInt(fdp.ConsumeIntInRange(1, 9))  # a signed integer of 1 to 9 bytes
            body = {"_type": "location", "lat": 30.4310123, "lon": 103.8615456, "tst": tst}
            tracker.run(OWNTRACKS_TOPIC, json.dumps(body).encode(), "atheris tst")
        elif mode == 4:
            tracker.run(fdp.ConsumeUnicodeNoSurrogates(80), b'{"seq":1,"ts":"2026-11-21T08:15:30Z"}', "atheris topic")
        elif mode == 5:
            text = fdp.ConsumeUnicode(48) if fdp.ConsumeBool() else _fields_ts(fdp)
            tracker.n += 1
            value = rfc3339.parse_ts(text)
            if value is not None and not rfc3339.EARLIEST <= value < rfc3339.END:
                raise Failure("parse_ts returned a time outside the window")
        else:
            ts = _fields_ts(fdp)
            items = [{"seq": i, "ts": ts if i % 2 else "2026-11-21T08:15:30Z", "lat": 1.5, "lon": 2.5, "acc": 3.0}
                     for i in range(fdp.ConsumeIntInRange(1, 4))]
            tracker.run(V1_TOPICS[0], json.dumps(items).encode(), "atheris array")
        if tracker.n % 5000 == 0 or tracker.slowest > written[0]:  # libFuzzer ends the process: keep it current
            written[0] = tracker.slowest
            stats.write_text(json.dumps({"inputs": tracker.n, "slowest_s": tracker.slowest}))

    atheris.Setup([sys.argv[0], f"-runs={n}", f"-seed={seed}", "-timeout=5", "-rss_limit_mb=2048",
                   "-print_final_stats=1", "-use_value_profile=1", f"-artifact_prefix={tracker.out}/"], one)
    atheris.Fuzz()


def _fields_ts(fdp: Any) -> str:
    """An RFC 3339-shaped text whose every field the fuzzer picks: a year of 0000-9999 or one at an edge,
    each other field at an edge of its range, within it or anywhere in 00-99, a fraction of up to 12
    digits, any offset."""
    year = fdp.ConsumeIntInRange(0, 9999) if fdp.ConsumeBool() else EDGE_YEARS[fdp.ConsumeIntInRange(0, len(EDGE_YEARS) - 1)]

    def two(lo: int, hi: int) -> str:  # an edge of the field's range, a value within it, or anything in 00-99
        pick = fdp.ConsumeIntInRange(0, 3)
        return f"{(lo, hi, fdp.ConsumeIntInRange(lo, hi), fdp.ConsumeIntInRange(0, 99))[pick]:02d}"

    fields = [two(1, 12), two(1, 31), two(0, 23), two(0, 59), two(0, 59)]
    frac = "." + "9" * fdp.ConsumeIntInRange(1, 12) if fdp.ConsumeBool() else ""
    kind = fdp.ConsumeIntInRange(0, 3)
    offset = ("Z", "z", "+", "-")[kind] + (f"{two(0, 23)}:{two(0, 59)}" if kind >= 2 else "")
    sep = "T" if fdp.ConsumeBool() else "t"
    return f"{year:04d}-{fields[0]}-{fields[1]}{sep}{fields[2]}:{fields[3]}:{fields[4]}{frac}{offset}"


def run_atheris(n: int, seed: int, out: Path, max_input_s: float) -> tuple[int | None, float | None, int]:
    stats = out / "atheris-stats.json"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, __file__, "--atheris-child", str(n), "--seed", str(seed), "--out", str(out),
                           "--max-input-s", str(max_input_s)], capture_output=True, text=True, timeout=3600, check=False)
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr) or re.search(
        r"stat::number_of_executed_units: (\d+)", proc.stderr)
    tail = "\n".join(proc.stderr.splitlines()[-15:])
    if proc.returncode != 0 or done is None:
        print(tail, file=sys.stderr)
    slowest = json.loads(stats.read_text())["slowest_s"] if stats.exists() else None
    return (int(done.group(1)) if done else None), slowest, proc.returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hypothesis", type=int, default=60_000, help="hypothesis examples (0: skip)")
    p.add_argument("--atheris", type=int, default=200_000, help="atheris runs (0: skip)")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--out", type=Path, help="where failing inputs are written (default: a temporary directory)")
    p.add_argument("--max-input-s", type=float, default=1.0, help="bound on one input's decoding time")
    p.add_argument("--atheris-child", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="stayaway-fuzz-"))
    tracker = Tracker(out, a.max_input_s)
    if a.atheris_child is not None:
        atheris_child(a.atheris_child, a.seed, tracker, out / "atheris-stats.json")
        return 0
    ok, total = True, 0
    if a.hypothesis:
        t = time.time()
        try:
            run_hypothesis(a.hypothesis, a.seed, tracker)
            print(f"hypothesis: {tracker.n:,} inputs in {time.time() - t:.0f} s, all passed; slowest input "
                  f"{tracker.slowest * 1000:.2f} ms")
        except Exception as exc:  # noqa: BLE001 - reported, the exit status says it
            ok = False
            print(f"hypothesis: FAILED after {tracker.n:,} inputs: {exc.__class__.__name__}: {str(exc)[:300]}")
        total += tracker.n
    if a.atheris:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris: not installed (pip install atheris); skipped")
            return 2 if ok else 1
        t = time.time()
        runs, slowest, code = run_atheris(a.atheris, a.seed, out, a.max_input_s)
        if code == 0 and runs is not None:
            print(f"atheris: {runs:,} inputs in {time.time() - t:.0f} s, all passed; slowest input "
                  f"{(slowest or 0) * 1000:.2f} ms")
            total += runs
        else:
            ok = False
            print(f"atheris: FAILED (exit {code}) after {runs or 'an unknown number of'} inputs")
    print(f"total: {total:,} inputs; {'all passed' if ok else 'FAILED'}; failing inputs, if any, in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
