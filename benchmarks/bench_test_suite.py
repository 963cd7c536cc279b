"""Wall time of the whole test suite (``pytest -n 2 -q``): this checkout
against another one, alternated.

Issue #13 asks for the suite at least 2x faster than before the CD core v2
(commit 0d422d8, the parent of ca71843, the core's first compiled kernels).
The other checkout needs its own environment with its test and docs extras;
for that commit:

    git clone . /tmp/before && git -C /tmp/before checkout 0d422d8
    python3 -m venv /tmp/beforevenv
    /tmp/beforevenv/bin/pip install -e "/tmp/before[test,docs]"
    python benchmarks/bench_test_suite.py --before /tmp/before \\
        --before-python /tmp/beforevenv/bin/python

Each repeat runs the other suite and then this one (the order alternating
between repeats), each in its own checkout's folder with its own interpreter,
nothing else running; the figures are the medians over the repeats of
pytest's own reported time, and the ratio the median of the per-repeat
ratios. Results go to ``benchmarks/RESULTS.md``.
"""

import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np
from _results import machine, recorded

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_suite(folder, python):
    """(pytest's reported seconds, wall seconds, its summary line)."""
    start = time.perf_counter()
    result = subprocess.run(
        [python, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    summary = result.stdout.strip().splitlines()[-1]
    found = re.search(r" in ([0-9.]+)s", summary)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"the suite in {folder} failed: {summary}")
    return float(found.group(1)), wall, summary


def git_head(folder):
    return subprocess.run(
        ["git", "-C", folder, "log", "-1", "--format=%h"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="the other checkout")
    ap.add_argument("--before-python", required=True, help="its interpreter")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    print(machine(), "\n")
    suites = {
        f"before ({git_head(args.before)})": (args.before, args.before_python),
        f"this checkout ({git_head(HERE)})": (HERE, sys.executable),
    }
    times = {name: [] for name in suites}
    summaries = {}
    for r in range(args.repeats):
        order = list(suites) if r % 2 == 0 else list(suites)[::-1]
        for name in order:
            t, wall, summary = run_suite(*suites[name])
            times[name].append(t)
            summaries[name] = summary
            print(f"repeat {r}, {name}: {t:.1f} s (wall {wall:.1f} s)", flush=True)
    print("\n`pytest -n 2 -q` (the README's test command), medians:\n")
    print("| suite | time | last summary |")
    print("| --- | --- | --- |")
    for name in suites:
        print(f"| {name} | {np.median(times[name]):.1f} s | {summaries[name]} |")
    before, after = (np.array(times[name]) for name in suites)
    ratio = np.median(before / after)
    print(f"\nspeed-up: {ratio:.2f}x (target >= 2)")


if __name__ == "__main__":
    with recorded("bench_test_suite", markdown=True):
        main()
