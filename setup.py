"""Build of the compiled CD core (Cython, OpenMP where the compiler has it).

Everything else about the package is declared in pyproject.toml.
"""

import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _openmp_flags(compiler):
    """``-fopenmp`` if the compiler builds and links an OpenMP program.

    Without OpenMP (Apple's clang, say) the kernels still build; their
    parallel loops then run in one thread.
    """
    if os.environ.get("SKLEARN_THERMO_NO_OPENMP"):
        return []
    flag = "/openmp" if compiler.compiler_type == "msvc" else "-fopenmp"
    code = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "check_openmp.c")
        with open(src, "w") as f:
            f.write(code)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=[flag])
            compiler.link_executable(
                objs, os.path.join(tmp, "check_openmp"), extra_postargs=[flag]
            )
        except Exception:  # noqa: BLE001 - any failure means no OpenMP
            print(
                "sklearn-thermo: no OpenMP, the kernels run in one thread",
                file=sys.stderr,
            )
            return []
    return [flag]


def _compile_in_parallel(compiler):
    """Make ``compiler.compile`` compile an extension's sources concurrently.

    setuptools compiles them one after another; the fused CD workers are
    in translation units of their own so that, on several cores, they
    compile side by side with the Cython module. Only for compilers that
    compile each source through ``_compile`` (not MSVC's).
    """
    if compiler.compiler_type != "unix" or not hasattr(compiler, "_setup_compile"):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    jobs = max(1, cores or os.cpu_count() or 1)

    def compile(  # stands in for the method
        sources,
        output_dir=None,
        macros=None,
        include_dirs=None,
        debug=False,
        extra_preargs=None,
        extra_postargs=None,
        depends=None,
    ):
        macros, objects, extra_postargs, pp_opts, build = compiler._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs
        )
        cc_args = compiler._get_cc_args(pp_opts, debug, extra_preargs)

        def one(obj):
            src, ext = build[obj]
            compiler._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)

        todo = [obj for obj in objects if obj in build]
        with ThreadPoolExecutor(min(jobs, max(1, len(todo)))) as pool:
            for _ in pool.map(one, todo):  # re-raises the first failure
                pass
        return objects

    compiler.compile = compile


class BuildExt(build_ext):
    def build_extensions(self):
        _compile_in_parallel(self.compiler)
        flags = _openmp_flags(self.compiler)
        # -fno-trapping-math: the clamps and selects of the elementwise loops
        # become vector min/max/blend (nothing here relies on FP traps);
        # -g0: no debug information (Python's own flags ask for it), which
        # slows the compile and makes most of the object's size
        optimise = (
            []
            if self.compiler.compiler_type == "msvc"
            else ["-O3", "-fno-trapping-math", "-g0"]
        )
        for ext in self.extensions:
            ext.extra_compile_args = [*optimise, *flags, *ext.extra_compile_args]
            ext.extra_link_args = [*flags, *ext.extra_link_args]
        super().build_extensions()


extensions = [
    Extension(
        "sklearn_thermo._core._kernels",
        # the fused CD workers first: they take the longest to compile
        [
            "sklearn_thermo/_core/_cd_float.c",
            "sklearn_thermo/_core/_cd_double.c",
            "sklearn_thermo/_core/_kernels.pyx",
        ],
        depends=[
            "sklearn_thermo/_core/_elementwise.h",
            "sklearn_thermo/_core/_packed_gemm.h",
            "sklearn_thermo/_core/_cd_fused.h",
            "sklearn_thermo/_core/_cd_impl.h",
            "sklearn_thermo/_core/_cd_tiles.h",
            "sklearn_thermo/_core/_cd_worker.h",
            "sklearn_thermo/_core/_conditional.h",
            "sklearn_thermo/_core/_pseudo.h",
            "sklearn_thermo/_core/_summary.h",
        ],
        include_dirs=["sklearn_thermo/_core"],
    )
]

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": 3}),
    cmdclass={"build_ext": BuildExt},
)
