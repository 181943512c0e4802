"""`make fuzz SECONDS=N`: run every fuzz target for N/len(targets) seconds each.

Seeds come from fixtures (the recorded corpus and fixtures/fuzz/); whatever a run
finds that crashes is copied into fixtures/fuzz/crashes/ (replayed by
tests/fuzz/test_regressions.py). Prints executions per second, coverage and corpus
size per target; exits non-zero if any target crashed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRASHES = ROOT / "fixtures" / "fuzz" / "crashes"
TARGETS = ("parse72", "parse2008", "check", "argv", "blockdev", "keyval", "blockdev_json",
           "cmdline")


def seeds() -> list[bytes]:
    """Seed inputs: every recorded drive string, argv joined by NULs, and fixtures/fuzz/."""
    out: list[bytes] = []
    lines = (ROOT / "fixtures" / "qemu72" / "verdicts.jsonl").read_text().splitlines()[1:]
    for line in lines:
        row = json.loads(line)
        if "drives" in row:
            out.append("\t".join(row["drives"]).encode())
        else:
            out.append("\0".join(row["argv"]).encode())
    # A sample of the command-line corpus (every 20th line: seeding is not free):
    # whole argvs, and each -blockdev/-object argument alone.
    cmdlines = (ROOT / "fixtures" / "generated" / "cmdlines.jsonl").read_text()
    for line in cmdlines.splitlines()[1::20]:
        args = json.loads(line)["argv"]
        out.append("\0".join(args).encode())
        out += [v.encode() for o, v in zip(args, args[1:], strict=False)
                if o in ("-blockdev", "-object")]
    out += [p.read_bytes() for p in sorted((ROOT / "fixtures" / "fuzz").rglob("*"))
            if p.is_file() and p.suffix != ".md"]
    return out


def run_target(target: str, seconds: int, workdir: Path) -> dict[str, object]:
    corpus = workdir / target
    corpus.mkdir()
    for n, seed in enumerate(seeds()):
        (corpus / f"seed-{n}").write_bytes(seed)
    artifacts = workdir / f"{target}-artifacts"
    artifacts.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.targets", target, f"-max_total_time={seconds}",
         "-max_len=4096", "-timeout=10", "-rss_limit_mb=2048",
         f"-artifact_prefix={artifacts}/", str(corpus)],
        cwd=ROOT, capture_output=True, text=True)
    stats = _stats(proc.stderr)
    crashes = sorted(artifacts.iterdir())
    for crash in crashes:
        CRASHES.mkdir(parents=True, exist_ok=True)
        shutil.copy(crash, CRASHES / f"{target}-{crash.name}")
    stats.update(target=target, returncode=proc.returncode, crashes=len(crashes),
                 corpus=len(list(corpus.iterdir())))
    if proc.returncode and not crashes:
        stats["tail"] = proc.stderr[-2000:]
    return stats


def _stats(log: str) -> dict[str, object]:
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/S exec/s: E ..."
    last = [line for line in log.splitlines() if re.match(r"#\d+", line)]
    line = last[-1] if last else ""
    found = dict(re.findall(r"(cov|ft|exec/s): (\d+)", line))
    execs = re.match(r"#(\d+)", line)
    return {"execs": int(execs.group(1)) if execs else 0, "exec_per_s": int(found.get("exec/s", 0)),
            "cov": int(found.get("cov", 0)), "features": int(found.get("ft", 0))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=60, help="total, split over the targets")
    ap.add_argument("--targets", nargs="*", default=list(TARGETS))
    args = ap.parse_args()
    each = max(args.seconds // len(args.targets), 1)
    failed = False
    with tempfile.TemporaryDirectory(prefix="qdrive-fuzz-") as tmp:
        for target in args.targets:
            s = run_target(target, each, Path(tmp))
            print(f"fuzz {target:<10} {each:>5}s  execs {s['execs']:>9}  exec/s "
                  f"{s['exec_per_s']:>6}  cov {s['cov']:>5}  ft {s['features']:>6}  corpus "
                  f"{s['corpus']:>6}  crashes {s['crashes']}", flush=True)
            if s["returncode"] or s["crashes"]:
                failed = True
                print(s.get("tail", f"crash inputs saved under {CRASHES}"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
