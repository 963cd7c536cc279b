"""The main job, ``python -m sklearn_thermo``, as a user runs it (small settings)."""

import re
import subprocess
import sys

import pytest

from sklearn_thermo.__main__ import main


@pytest.mark.slow
def test_main_job_compares_features_and_sweeps_temperature(capsys):
    main(["--n-components", "32", "--max-iter", "3"])
    out = capsys.readouterr().out
    assert len(re.findall(r"\[BoltzmannMachine\] Iteration \d+", out)) == 3
    scores = {
        name: float(value)
        for name, value in re.findall(
            r"^\s+(raw pixels|BernoulliRBM features|BoltzmannMachine features)"
            r"\s+([\d.]+)$",
            out,
            flags=re.M,
        )
    }
    assert len(scores) == 3
    # nudged digits defeat a linear model on pixels; features carry information
    assert 0.6 < scores["raw pixels"] < 0.9
    assert scores["BoltzmannMachine features"] > 0.6
    gain = float(re.search(r"\(([+-][\d.]+) over raw pixels\)", out).group(1))
    assert gain == pytest.approx(
        scores["BoltzmannMachine features"] - scores["raw pixels"], abs=2e-4
    )
    rows = [
        tuple(map(float, r))
        for r in re.findall(
            r"^\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(-[\d.]+)\s+([\d.]+)$",
            out,
            flags=re.M,
        )
    ]
    assert [r[0] for r in rows] == [0.5, 1.0, 2.0]
    entropies = [r[1] for r in rows]
    # hotter features are softer: the entropy per hidden unit rises with T
    assert all(a <= b for a, b in zip(entropies, entropies[1:]))
    assert entropies[0] < entropies[-1]
    # the closing sentences quote the sweep's own best temperatures
    best_f1 = max(rows, key=lambda r: r[4])[0]
    best_pll = max(rows, key=lambda r: r[3])[0]
    assert f"highest at T = {best_pll:g}" in out
    assert f"T = {best_f1:g}" in out.split("LogisticRegression scores best")[1]
    assert "entropy per hidden unit rises" in out


@pytest.mark.slow
def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_thermo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "temperature" in result.stdout


def test_help_is_plain_text_with_option_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":class:" not in out
    for option in ("--n-components", "--max-iter", "--random-state"):
        assert re.search(option + r" \S+\s+\S", out), option


@pytest.mark.parametrize(
    "args", [["--n-components", "-5"], ["--max-iter", "0"], ["--n-components", "many"]]
)
def test_bad_options_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "error: argument" in capsys.readouterr().err
