"""TemperedSoftmaxClassifier vs LogisticRegression: fit time and calibration.

1. Fit time against LogisticRegression(solver="lbfgs") at the equivalent
   ``C = 1 / (alpha * n_samples)``, both solved to the same gradient tolerance
   on the same data; the final objectives are compared (they should agree to
   1e-6) and the time ratio printed (target <= 1.0).
2. Held-out expected calibration error after ``temperature="auto"`` against
   ``CalibratedClassifierCV(LogisticRegression(), method="temperature")`` on the
   same split, with the same regularisation (target: equal or lower).

Data: sklearn's digits (pixels / 16) and a synthetic 100,000 x 100, 10-class
problem (make_classification). Each of ``--repeats`` repeats fits both back
to back; the times are medians and the ratio the median of the per-repeat
ratios.

    python benchmarks/bench_softmax.py [--n-samples 100000] [--repeats 5]
"""

import argparse
import time
import warnings

import numpy as np
from _results import recorded
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_thermo import TemperedSoftmaxClassifier
from sklearn_thermo._softmax import tempered_loss_grad
from sklearn_thermo.metrics import expected_calibration_error


def datasets(n_samples):
    X, y = load_digits(return_X_y=True)
    yield "digits", X / 16.0, y
    X, y = make_classification(
        n_samples=n_samples,
        n_features=100,
        n_informative=30,
        n_redundant=10,
        n_classes=10,
        n_clusters_per_class=1,
        class_sep=1.0,
        random_state=0,
    )
    yield f"synthetic {n_samples}x100, 10 classes", StandardScaler().fit_transform(X), y


def objective(coef, intercept, X, y, alpha):
    classes = np.unique(y)
    Y = np.eye(len(classes))[np.searchsorted(classes, y)]
    w = np.concatenate([coef.ravel(), intercept])
    return tempered_loss_grad(w, X, Y, np.ones(len(y)), alpha, 1.0, True)[0]


def paired_times(makers, X, y, repeats):
    """Per repeat, one fit of each maker back to back; returns the times
    (repeats, len(makers)) and the last fitted estimators. Ratios taken within
    a repeat cancel the minute-to-minute speed changes of a shared machine."""
    times = np.empty((repeats, len(makers)))
    fitted = [None] * len(makers)
    for r in range(repeats):
        # alternate the order: back-to-back runs show a bias by position
        order = range(len(makers)) if r % 2 == 0 else reversed(range(len(makers)))
        for i in order:
            make = makers[i]
            est = make()
            t = time.perf_counter()
            est.fit(X, y)
            times[r, i] = time.perf_counter() - t
            fitted[i] = est
    return times, fitted


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-samples", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tol", type=float, default=1e-6)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # ConvergenceWarnings are reported below

    print("1. Fit time at the same objective (T = 1, C = 1 / (alpha n))\n")
    print(
        f"{'data':38s} {'ours s':>7s} {'LR s':>7s} {'ratio':>6s} "
        f"{'objective ours':>15s} {'rel. diff':>9s}"
    )
    for name, X, y in datasets(args.n_samples):
        alpha = 1.0 / len(y)  # LogisticRegression's default C = 1

        def ours_factory(alpha=alpha):
            return TemperedSoftmaxClassifier(
                1.0, alpha=alpha, tol=args.tol, max_iter=10000
            )

        times, (ours, ref) = paired_times(
            [
                ours_factory,
                lambda: LogisticRegression(C=1.0, tol=args.tol, max_iter=10000),
            ],
            X,
            y,
            args.repeats,
        )
        t_ours, t_ref = np.median(times, axis=0)
        ratio = np.median(times[:, 0] / times[:, 1])
        f_ours = objective(ours.coef_, ours.intercept_, X, y, alpha)
        f_ref = objective(ref.coef_, ref.intercept_, X, y, alpha)
        print(
            f"{name:38s} {t_ours:7.3f} {t_ref:7.3f} {ratio:6.2f} "
            f"{f_ours:15.10f} {abs(f_ours - f_ref) / abs(f_ref):9.1e}",
            flush=True,
        )

    print(
        "\n2. Held-out calibration (20 % test split, random_state=0; ECE with "
        "15 uniform bins, top-label)\n"
    )
    print(f"{'data':38s} {'model':44s} {'ECE':>6s} {'log-loss':>8s} {'acc':>6s}")
    for name, X, y in datasets(args.n_samples):
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.2, random_state=0, stratify=y
        )
        alpha = 1.0 / len(y_tr)
        models = {
            "LogisticRegression (uncalibrated)": LogisticRegression(max_iter=10000),
            "CalibratedClassifierCV(LR, 'temperature')": CalibratedClassifierCV(
                LogisticRegression(max_iter=10000), method="temperature"
            ),
            "TemperedSoftmaxClassifier('auto')": TemperedSoftmaxClassifier(
                "auto", alpha=alpha
            ),
        }
        for label, model in models.items():
            P = model.fit(X_tr, y_tr).predict_proba(X_te)
            ece = expected_calibration_error(y_te, P, labels=model.classes_)
            acc = np.mean(model.classes_[P.argmax(axis=1)] == y_te)
            extra = (
                f" T={model.temperature_:.3f}"
                if isinstance(model, TemperedSoftmaxClassifier)
                else ""
            )
            print(
                f"{name:38s} {label + extra:44s} {ece:6.4f} "
                f"{log_loss(y_te, P, labels=model.classes_):8.4f} {acc:6.4f}",
                flush=True,
            )


if __name__ == "__main__":
    with recorded("bench_softmax"):
        main()
