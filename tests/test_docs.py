"""The documentation builds with warnings as errors (docs extra)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

DOCS = pathlib.Path(__file__).parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme"):
        pytest.importorskip(
            module,
            reason="the docs extra is not installed "
            "(pip install -e '.[docs]'); README's test command "
            "installs it",
        )
    # the examples themselves run in test_examples.py; here only their pages
    env = dict(os.environ, SPHINX_GALLERY_PLOT="0", MPLBACKEND="Agg")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "html" / "api.html").exists()
    assert (tmp_path / "html" / "auto_examples" / "index.html").exists()


def _listed_checks(page, title):
    text = (DOCS / page).read_text()
    after = text.split(title, 1)[1].split("\n", 2)[2]  # past the underline
    section = re.split(r"\n[^\n]+\n-{3,}\n", after, maxsplit=1)[0]
    return set(re.findall(r"\* - ``(check_\w+)``", section))


@pytest.mark.parametrize("name", ["BoltzmannMachine", "EnergyClassifier"])
def test_conformance_page_lists_exactly_the_failing_checks(name):
    # the page explains each check the Bernoulli default cannot pass: it must
    # list exactly those check_estimator reports, no more, no fewer
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    import sklearn_thermo

    est = getattr(sklearn_thermo, name)(
        n_components=8, max_iter=5, batch_size=10, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    ran = {r["check_name"] for r in results}
    listed = _listed_checks("conformance.rst", f"``{name}()`` (Bernoulli)")
    # older scikit-learn versions run fewer checks: those they run must agree
    assert failed == listed & ran
    assert len(listed & ran) > 20


def _public_api():
    import inspect

    import sklearn_thermo
    from sklearn_thermo import calibration, metrics, ops

    for module, names in (
        (
            sklearn_thermo,
            ["BoltzmannMachine", "EnergyClassifier", "TemperedSoftmaxClassifier"],
        ),
        (ops, ops.__all__),
        (metrics, metrics.__all__),
        (calibration, calibration.__all__),
    ):
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj


@pytest.mark.parametrize(
    "name, obj", list(_public_api()), ids=[n for n, _ in _public_api()]
)
def test_every_public_class_and_function_has_an_example(name, obj):
    # the examples run as doctests (--doctest-modules in pyproject.toml)
    assert ">>> " in (obj.__doc__ or ""), f"{name} has no Examples section"
