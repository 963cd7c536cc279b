"""Every example in examples/ runs to the end with a non-interactive backend."""

import pathlib
import runpy
import warnings

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = sorted((pathlib.Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path, monkeypatch):
    # in this process, as sphinx-gallery runs them: a fresh interpreter per
    # example spent most of each run importing scikit-learn and matplotlib
    matplotlib = pytest.importorskip("matplotlib")  # in the test extra
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    # the examples' own warning filters stay theirs; the suite's apply (an
    # example must not use what scikit-learn deprecates)
    with warnings.catch_warnings():
        try:
            runpy.run_path(str(path), run_name="__main__")
        finally:
            plt.close("all")


def test_there_are_examples():
    assert EXAMPLES
