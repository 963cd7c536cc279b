"""Calibration at the defaults: TemperedSoftmaxClassifier(temperature="auto")
vs CalibratedClassifierCV(LogisticRegression(), method="temperature").

Protocol: StandardScaler in front of each classifier; 5 stratified 70/30
splits (random_state 0-4) of digits, wine, breast_cancer, iris and a
synthetic 20-class problem; held-out log-loss, top-label ECE (15 equal-width
bins) and accuracy, medians over the splits; median fit time. The fits
alternate within a split. For reference: both recipes without their
ensembles (``ensemble=False``: one model fitted on all the data, its
temperature from out-of-fold scores), and LogisticRegression() alone.
Beside the medians, the paired view a skeptical reader would ask for: per
dataset, the mean over the splits of (ours - theirs) for log-loss and ECE,
its standard error, and on how many splits ours is lower; a difference is
called clear when it exceeds two standard errors.
Needs scikit-learn >= 1.8 (method="temperature").

    python benchmarks/bench_calibration.py [--splits 5]

Other split counts write their own section of RESULTS.md.
"""

import argparse
import time

import numpy as np
from _results import recorded
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_thermo import TemperedSoftmaxClassifier
from sklearn_thermo.metrics import expected_calibration_error


def datasets():
    for name, load in (
        ("digits", load_digits),
        ("wine", load_wine),
        ("breast_cancer", load_breast_cancer),
        ("iris", load_iris),
    ):
        yield name, *load(return_X_y=True)
    X, y = make_classification(
        n_samples=2000,
        n_features=40,
        n_informative=20,
        n_classes=20,
        n_clusters_per_class=1,
        random_state=0,
    )
    yield "synthetic 20-class", X, y


SINGLE = "CalibratedCV(ensemble=False)"
OURS_SINGLE = "TemperedSoftmax(ensemble=False)"
MODELS = {
    "TemperedSoftmax(auto)": lambda: TemperedSoftmaxClassifier(temperature="auto"),
    OURS_SINGLE: lambda: TemperedSoftmaxClassifier(temperature="auto", ensemble=False),
    "CalibratedCV(LR, temperature)": lambda: CalibratedClassifierCV(
        LogisticRegression(), method="temperature"
    ),
    "CalibratedCV(ensemble=False)": lambda: CalibratedClassifierCV(
        LogisticRegression(), method="temperature", ensemble=False
    ),
    "LogisticRegression()": lambda: LogisticRegression(),
}


def main(args):
    ours, theirs = list(MODELS)[0], list(MODELS)[2]
    wins = {"log-loss": 0, "ECE": 0}
    single = dict(wins)
    ratios = []
    n_data = 0
    clear = {"better": [], "worse": []}
    for data, X, y in datasets():
        res = {
            m: {"log-loss": [], "ECE": [], "accuracy": [], "time": []} for m in MODELS
        }
        for split in range(args.splits):
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.3, stratify=y, random_state=split
            )
            for name, make in MODELS.items():
                model = make_pipeline(StandardScaler(), make())
                t = time.perf_counter()
                model.fit(X_tr, y_tr)
                res[name]["time"].append(time.perf_counter() - t)
                P = model.predict_proba(X_te)
                res[name]["log-loss"].append(log_loss(y_te, P, labels=model.classes_))
                res[name]["ECE"].append(
                    expected_calibration_error(y_te, P, labels=model.classes_)
                )
                res[name]["accuracy"].append(accuracy_score(y_te, model.predict(X_te)))
            ratios.append(res[ours]["time"][-1] / res[theirs]["time"][-1])
        med = {
            m: {k: float(np.median(v)) for k, v in r.items()} for m, r in res.items()
        }
        n_data += 1
        print(f"\n{data} ({X.shape[0]} x {X.shape[1]}, {len(np.unique(y))} classes)")
        print(
            f"  {'':31s} {'log-loss':>9s} {'ECE':>8s} {'accuracy':>9s} {'fit time':>9s}"
        )
        for m in MODELS:
            r = med[m]
            print(
                f"  {m:31s} {r['log-loss']:9.4f} {r['ECE']:8.4f} "
                f"{r['accuracy']:9.4f} {r['time'] * 1e3:7.1f}ms"
            )
        for k in wins:
            wins[k] += med[ours][k] <= med[theirs][k]
            single[k] += med[OURS_SINGLE][k] <= med[SINGLE][k]
            diff = np.subtract(res[ours][k], res[theirs][k])
            mean = float(diff.mean())
            se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
            print(
                f"  paired {k:8s} ours - theirs {mean:+.4f} (s.e. {se:.4f}); "
                f"ours lower on {int((diff < 0).sum())} of {len(diff)} splits"
            )
            if len(diff) > 1 and abs(mean) > 2 * se:
                clear["better" if mean < 0 else "worse"].append(f"{data} {k}")
    print(
        f"\n{ours} no worse than {theirs} on: log-loss {wins['log-loss']}/{n_data}, "
        f"ECE {wins['ECE']}/{n_data} (target >= 4 of 5 each); median fit-time "
        f"ratio {float(np.median(ratios)):.2f} (target <= 1)"
    )
    print(
        f"{OURS_SINGLE} no worse than {SINGLE} (one model each): log-loss "
        f"{single['log-loss']}/{n_data}, ECE {single['ECE']}/{n_data}"
    )
    print(
        "paired over the splits, beyond two standard errors: ours better on "
        f"{', '.join(clear['better']) or 'none'}; worse on "
        f"{', '.join(clear['worse']) or 'none'}; no clear difference elsewhere"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--splits", type=int, default=5)
    args = ap.parse_args()
    name = "bench_calibration"
    if args.splits != 5:
        name += f", {args.splits} splits"
    with recorded(name):
        main(args)
