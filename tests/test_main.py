"""The main job, ``python -m sklearn_thermo``, as a user runs it (small settings)."""

import re
import subprocess
import sys

import pytest

from sklearn_thermo.__main__ import main


@pytest.mark.slow
def test_main_job_reports_accuracy_and_temperature_sweep(capsys):
    main(["--n-components", "32", "--max-iter", "3"])
    out = capsys.readouterr().out
    assert len(re.findall(r"\[BoltzmannMachine\] Iteration \d+", out)) == 3
    accuracies = {
        name: float(value)
        for name, value in re.findall(
            r"^\s+(raw pixels|RBM features)\s+([\d.]+)$", out, flags=re.M
        )
    }
    assert set(accuracies) == {"raw pixels", "RBM features"}
    assert accuracies["raw pixels"] > 0.9  # digits are easy for LogisticRegression
    assert accuracies["RBM features"] > 0.5  # features carry real information
    rows = re.findall(
        r"^\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(-[\d.]+)\s+([\d.]+)$", out, flags=re.M
    )
    temperatures = [float(r[0]) for r in rows]
    entropies = [float(r[1]) for r in rows]
    assert temperatures == sorted(temperatures) and len(rows) == 6
    # hotter features are softer: the entropy per hidden unit rises with T
    # (printed to 3 decimals, so the hot end may round to equal values)
    assert all(a <= b for a, b in zip(entropies, entropies[1:]))
    assert entropies[0] < entropies[-1]


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
