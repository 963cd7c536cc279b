"""Helpers shared by the benchmarks: the machine's description, a busy
machine, and ``benchmarks/RESULTS.md``, where each script writes its section."""

import contextlib
import datetime
import multiprocessing as mp
import os
import platform
import re
import time

import numpy as np
import scipy
import sklearn
from threadpoolctl import threadpool_info

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


#: OpenBLAS core types whose kernels use AVX-512
_AVX512_CORES = {"skylakex", "cooperlake", "sapphirerapids"}


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        return re.search(r"flags\s*:\s*(.*)", text).group(1).split()
    except (OSError, AttributeError):
        return []


def _openblas_cores():
    return {
        (i.get("architecture") or "").lower()
        for i in threadpool_info()
        if i["internal_api"] == "openblas"
    }


def blas_kernels_override():
    """``"SkylakeX"`` where numpy's OpenBLAS runs narrower kernels than the
    CPU's AVX-512 (it takes some AVX-512 CPUs for older ones and picks its
    AVX2 kernels there, at about half the GEMM rate), else None: the core
    type that ``OPENBLAS_CORETYPE`` selects for the machine's GEMM rate."""
    cores = _openblas_cores()
    if "avx512f" in _cpu_flags() and cores and not cores & _AVX512_CORES:
        return "SkylakeX"
    return None


def machine():
    """One line: CPU, cores, BLAS (and its kernels), versions, date."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        cpu = re.search(r"model name\s*:\s*(.*)", text).group(1).strip()
        flags = _cpu_flags()
        isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
        cpu = f"{cpu} ({isa})"
    except (OSError, AttributeError):
        pass
    blas = sorted(
        {
            f"{i['internal_api']} {i['version']}"
            + (f" ({i['architecture']} kernels)" if i.get("architecture") else "")
            for i in threadpool_info()
            if i["user_api"] == "blas"
        }
    )
    if blas_kernels_override():
        blas.append("GEMM rate also measured with OPENBLAS_CORETYPE=SkylakeX")
    return (
        f"{cpu}, {os.cpu_count()} cores; BLAS: {', '.join(blas)}; Python "
        f"{platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}; "
        f"{datetime.date.today().isoformat()}"
    )


def write_section(name, body, command):
    """Replace (or add) section ``name`` of RESULTS.md with ``body``."""
    text = (
        open(RESULTS).read()
        if os.path.exists(RESULTS)
        else (
            "# Benchmark results\n\nWritten by the scripts in this folder; each "
            "section says the command that wrote it and the machine it ran on.\n"
        )
    )
    section = (
        f"<!-- {name} -->\n## {name}\n\n`{command}`\n\nMachine: "
        f"{machine()}\n\n{body.strip()}\n<!-- /{name} -->"
    )
    pattern = re.compile(
        rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S
    )
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else (text.rstrip() + "\n\n" + section + "\n")
    )
    with open(RESULTS, "w") as f:
        f.write(text)
    print(f"\n(written to {RESULTS}, section '{name}')")


class _Tee:
    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


@contextlib.contextmanager
def recorded(name, *, markdown=False):
    """Print as usual, and write what was printed to RESULTS.md's section
    ``name`` at the end (with the command line and the machine): every
    benchmark's figures land there, none in docstrings or comments."""
    import sys

    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        yield
    finally:
        sys.stdout = tee.stream
    body = "".join(tee.parts)
    command = "python " + " ".join(
        ["benchmarks/" + os.path.basename(sys.argv[0]), *sys.argv[1:]]
    )
    write_section(name, body if markdown else f"```\n{body.strip()}\n```", command)


def _spin(stop, parent):
    # also stops when the benchmark is killed (``daemon`` covers normal exits
    # only): then the process is reparented
    x = 0
    while not stop.is_set() and os.getppid() == parent:
        for _ in range(100_000):
            x += 1


@contextlib.contextmanager
def busy_machine(n_processes=2):
    """``n_processes`` CPU-bound background processes while the block runs."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = [
        ctx.Process(target=_spin, args=(stop, os.getpid()), daemon=True)
        for _ in range(n_processes)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let them get going
    try:
        yield
    finally:
        stop.set()
        for p in procs:
            p.join()
