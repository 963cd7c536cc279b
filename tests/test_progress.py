"""verbose=2: a progress bar within epochs, tqdm optional."""

import sys

import numpy as np
import pytest

from sklearn_thermo import BoltzmannMachine, EnergyClassifier

X = (np.random.default_rng(0).random((60, 6)) < 0.4).astype(float)
Y = np.arange(60) % 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: BoltzmannMachine(n_components=3, max_iter=2, batch_size=10, verbose=2),
        lambda: EnergyClassifier(
            n_components=3, max_iter=2, batch_size=10, verbose=2, n_iter_no_change=5
        ),
    ],
)
@pytest.mark.parametrize("with_tqdm", [True, False])
def test_verbose_2_shows_progress_within_epochs(make, with_tqdm, capsys, monkeypatch):
    if with_tqdm:
        pytest.importorskip("tqdm")
    else:  # as if tqdm were not installed
        monkeypatch.setitem(sys.modules, "tqdm", None)
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    est = make()
    est.fit(X, Y) if isinstance(est, EnergyClassifier) else est.fit(X)
    out, err = capsys.readouterr()
    assert out.count("Iteration") == 2  # verbose >= 1: a line per epoch
    assert "epoch 1" in err and "epoch 2" in err
    if not with_tqdm:
        assert "6/6 batches" in err


def test_verbose_1_has_no_progress_bar(capsys):
    BoltzmannMachine(n_components=3, max_iter=2, batch_size=10, verbose=1).fit(X)
    out, err = capsys.readouterr()
    assert out.count("Iteration") == 2 and "epoch" not in err
