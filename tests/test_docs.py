"""The documentation builds with warnings as errors (docs extra)."""

import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

DOCS = pathlib.Path(__file__).parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme"):
        pytest.importorskip(module, reason="the docs extra is not installed "
                            "(pip install -e '.[docs]'); README's test command "
                            "installs it")
    # the examples themselves run in test_examples.py; here only their pages
    env = dict(os.environ, SPHINX_GALLERY_PLOT="0", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "html" / "api.html").exists()
    assert (tmp_path / "html" / "auto_examples" / "index.html").exists()
