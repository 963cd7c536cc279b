"""The main job: ``python -m sklearn_thermo``.

Trains a BoltzmannMachine on scikit-learn's bundled digits with per-epoch
progress, then shows what it learned: the test accuracy of LogisticRegression
on raw pixels and on RBM features, and how the features change as the
temperature is swept.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from . import ops
from ._rbm import BoltzmannMachine


def _accuracy(train, test, y_train, y_test):
    clf = LogisticRegression(max_iter=3000, C=1.0)
    return clf.fit(train, y_train).score(test, y_test)


_DESCRIPTION = """\
Trains a BoltzmannMachine on scikit-learn's bundled digits, printing one line
per epoch, then shows what it learned: the test accuracy of LogisticRegression
on raw pixels and on the RBM's features, and how the features change as the
temperature is swept."""


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}; got {value}")
        return value

    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_thermo",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--n-components",
        type=_int_at_least(1),
        default=256,
        metavar="N",
        help="hidden units of the RBM (default: 256)",
    )
    parser.add_argument(
        "--max-iter",
        type=_int_at_least(1),
        default=30,
        metavar="N",
        help="training epochs (default: 30)",
    )
    parser.add_argument(
        "--random-state",
        type=_int_at_least(0),
        default=0,
        metavar="SEED",
        help="seed of the split and of the RBM (default: 0)",
    )
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # grey levels in [0, 1]: probabilities for Bernoulli units
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=args.random_state, stratify=y
    )
    print(
        f"digits: {X_train.shape[0]} train and {X_test.shape[0]} test images of "
        f"{X.shape[1]} pixels\n"
    )

    begin = time.perf_counter()
    rbm = BoltzmannMachine(
        n_components=args.n_components,
        max_iter=args.max_iter,
        random_state=args.random_state,
        verbose=1,
    ).fit(X_train)
    print(f"\ntrained in {time.perf_counter() - begin:.1f}s")

    raw = _accuracy(X_train, X_test, y_train, y_test)
    feat = _accuracy(rbm.transform(X_train), rbm.transform(X_test), y_train, y_test)
    both = _accuracy(
        np.hstack([X_train, rbm.transform(X_train)]),
        np.hstack([X_test, rbm.transform(X_test)]),
        y_train,
        y_test,
    )
    print("\nLogisticRegression test accuracy")
    print(f"  raw pixels              {raw:.4f}")
    print(f"  RBM features            {feat:.4f}")
    print(f"  pixels + RBM features   {both:.4f}")

    print(
        "\nTemperature sweep of the trained model (features P(h=1|v) at T):\n"
        "  T      entropy/unit  saturated  pseudo-LL/pixel  accuracy"
    )
    for T in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0):
        rbm.set_params(temperature=T)
        H = rbm.transform(X_test)
        # binary entropy of each hidden unit, in bits: logits -> 2-state softmax
        logits = np.stack([np.zeros_like(H), np.log(H + 1e-300) - np.log1p(-H + 1e-16)])
        bits = ops.entropy(logits, axis=0).mean() / np.log(2)
        saturated = np.mean((H < 0.05) | (H > 0.95))
        pll = rbm.pseudo_log_likelihood(X_test).mean() / X.shape[1]
        acc = _accuracy(rbm.transform(X_train), H, y_train, y_test)
        print(f"  {T:<5g}  {bits:12.3f}  {saturated:9.3f}  {pll:15.3f}  {acc:8.4f}")
    print(
        "\nCold (small T): features saturate to 0/1 (hard, low entropy); hot "
        "(large T):\nthey drift to 0.5 (soft, high entropy) and carry less "
        "information."
    )


if __name__ == "__main__":
    main()
