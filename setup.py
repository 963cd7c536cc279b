"""Build of the compiled CD core (Cython, OpenMP where the compiler has it).

Everything else about the package is declared in pyproject.toml.
"""

import os
import sys
import tempfile

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


class BuildExt(build_ext):
    def build_extensions(self):
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
        ["sklearn_thermo/_core/_kernels.pyx"],
        depends=[
            "sklearn_thermo/_core/_elementwise.h",
            "sklearn_thermo/_core/_packed_gemm.h",
            "sklearn_thermo/_core/_cd_fused.h",
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
