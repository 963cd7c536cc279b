"""What the two Boltzmann estimators share, written once.

:class:`~._rbm.BoltzmannMachine` and
:class:`~._energy_classifier.EnergyClassifier` are both restricted Boltzmann
machines trained by the CD core; this base holds their common parameters and
constraints (each estimator extends them, the way ``LogisticRegressionCV``
extends ``LogisticRegression``'s), input validation, initialisation, the
learning-rate schedule, the divergence check, the runners and the tags.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from ._core.threads import (
    SEED_MAX,
    BlockRunner,
    blas_capped,
    effective_n_threads,
    normal_draws,
)
from ._sklearn_private import Interval, StrOptions, _check_sample_weight
from ._validation import (
    STRUCTURAL_PARAMS,
    check_visible_domain,
    validate_numpy_data,
)

#: Training rows a monitor (``verbose``, a generative loss) is computed on.
N_MONITOR = 250


#: rows per block of the weighted column sums of float32 data
_WEIGHTED_SUM_ROWS = 1024


class BaseBoltzmann(BaseEstimator):
    """Private base of the Boltzmann estimators (not an estimator itself).

    Subclasses define ``_params()`` (the model as an ``RBMParams``) and
    ``_DEFAULT_LEARNING_RATE`` (per visible unit type, for
    ``learning_rate="auto"``), or override :meth:`_auto_learning_rate`.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "visible": [StrOptions({"bernoulli", "gaussian"})],
        "temperature": [Interval(Real, 0, np.inf, closed="neither")],
        "learning_rate": [
            Interval(Real, 0, np.inf, closed="neither"),
            StrOptions({"auto"}),
        ],
        "learning_rate_schedule": [StrOptions({"linear", "constant"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, np.inf, closed="left")],
        "n_gibbs_steps": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------------
    # input
    # ------------------------------------------------------------------
    def _validate_X(
        self, X, *, reset, dtype=(np.float64, np.float32), column_stats=False
    ):
        """X validated, finite and in the visible units' domain; with
        ``column_stats``, ``(X, its ColumnStats or None)`` (see
        :func:`check_visible_domain`)."""
        X = validate_numpy_data(
            self,
            X,
            accept_sparse="csr",
            dtype=dtype,
            reset=reset,
            ensure_all_finite=False,  # checked with the domain, in one pass
        )
        return self._check_domain(X, column_stats=column_stats)

    def _check_domain(self, X, *, column_stats=False):
        return check_visible_domain(
            X, self.visible, type(self).__name__, column_stats=column_stats
        )

    # ------------------------------------------------------------------
    # initialisation and training settings
    # ------------------------------------------------------------------
    def _energy_scale(self):
        """How the weights of a fit at ``temperature`` compare with those of
        the same fit at ``T = 1``: ``T`` for Bernoulli visible units, whose
        model depends on the parameters over ``T`` only, and ``sqrt(T)`` for
        Gaussian ones, whose model at ``T`` is the one at ``T = 1`` of the data
        over ``sqrt(T)`` (their variance is ``T``). The initial weights and the
        step scale with it (the step as its square), so that a fit at ``T`` is
        the fit at ``T = 1`` in these units rather than one with a step
        ``1 / s^2`` times as large."""
        T = float(self.temperature)
        return T if self.visible == "bernoulli" else float(np.sqrt(T))

    def _initial_weights(self, out, rng):
        """``out`` filled with the initial weights, ``N(0, (0.01 s)^2)`` (Hinton
        2010; ``s`` the :meth:`_energy_scale`), in its dtype, from a seed drawn
        from ``rng`` (on the fit's threads; the draws do not depend on their
        number)."""
        seed = int(rng.randint(SEED_MAX))
        std = 0.01 * self._energy_scale()
        return normal_draws(out, std, seed, effective_n_threads(self.n_jobs))

    def _initial_visible_bias(self, X, sample_weight=None, column_stats=None):
        """The visible biases of the data's marginals (Hinton 2010), float64.

        ``a_i = T log(p_i / (1 - p_i))`` with the Laplace-smoothed frequency
        ``p_i = (sum_n w_n x_ni + 1) / (sum_n w_n + 2)`` for Bernoulli units
        (integer weights count as repeated rows), the weighted mean for
        Gaussian ones. ``column_stats``: X's ``ColumnStats``, if
        already counted.
        """
        if sample_weight is None:
            sums = X.sum(axis=0) if column_stats is None else column_stats.sums
            total = np.asarray(sums, dtype=np.float64).ravel()
            count = float(X.shape[0])
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            count = float(w.sum())
            # BLAS at one thread: its idle workers would spin for a while
            # after a threaded product, on the cores the training needs next
            with blas_capped():
                if hasattr(X, "toarray") or X.dtype == np.float64:
                    total = np.asarray(X.T @ w, dtype=np.float64).ravel()
                else:  # in float64 a block of rows at a time, not a copy of X
                    total = np.zeros(X.shape[1])
                    for i in range(0, X.shape[0], _WEIGHTED_SUM_ROWS):
                        block = slice(i, i + _WEIGHTED_SUM_ROWS)
                        total += w[block] @ X[block].astype(np.float64)
        if self.visible == "bernoulli":
            p = (total + 1.0) / (count + 2.0)
            return float(self.temperature) * np.log(p / (1.0 - p))
        return total / count

    @staticmethod
    def _check_weights(sample_weight, X):
        """``(raw, scaled)``: the validated weights in float64, and scaled to a
        mean of one in X's dtype (what the trainers take); ``(None, None)``
        without weights. Training uses only their ratios; the initial biases'
        Laplace smoothing counts them as rows."""
        if sample_weight is None:
            return None, None
        w = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not w.any():
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        # the raw weights unless their sum overflows (then scaled by the
        # largest): the initial biases count integer weights as repeated rows
        with np.errstate(over="ignore"):
            total = w.sum()
        if not np.isfinite(total):
            w = w / w.max()
            total = w.sum()
        return w, (w * (len(w) / total)).astype(X.dtype)

    def _remember_structure(self):
        """Record the parameters that fix the fitted model's structure."""
        self._fitted_structure = {k: getattr(self, k) for k in STRUCTURAL_PARAMS}

    def _auto_learning_rate(self, X, sample_weight=None, column_stats=None):
        """The step ``learning_rate="auto"`` resolves to on the data X
        (``column_stats``: X's ``ColumnStats``, if already counted)."""
        return self._DEFAULT_LEARNING_RATE[self.visible]

    def _resolve_learning_rate(self, X, sample_weight=None, column_stats=None):
        """Set ``learning_rate_``: ``learning_rate``, or its "auto" value on X."""
        self.learning_rate_ = (
            float(self._auto_learning_rate(X, sample_weight, column_stats))
            if self.learning_rate == "auto"
            else float(self.learning_rate)
        )

    def _learning_rate(self, epoch=None):
        """The step on the gradient of the parameters, at ``epoch`` of
        ``max_iter`` under the schedule: the learning rate times the square of
        the :meth:`_energy_scale` (1 at ``T = 1``).

        A float ``learning_rate`` set after fitting is used as given; "auto"
        keeps the value resolved on the first data (``learning_rate_``).
        """
        if self.learning_rate != "auto":
            self.learning_rate_ = float(self.learning_rate)
        lr = self.learning_rate_
        if epoch is not None and self.learning_rate_schedule == "linear":
            lr *= 1.0 - epoch / self.max_iter
        return lr * self._energy_scale() ** 2

    def _check_finite(self, when, trainer, X):
        """Raise if training diverged: the parameters, or the Gibbs chains
        (Gaussian chains overflow while the weights are still finite), are
        not finite, or the weights grew so large that the units' inputs on
        rows like ``X`` (and the chains) overflow while the weights do not.

        The test on the inputs is a bound, ``|c_j| + sum_i |W_ji| max|x|``
        for the hidden units and ``|a_i| + sum_j |W_ji|`` for the visible
        ones, in the parameters' dtype: a model that passes gives finite
        conditionals on such rows, whatever the order of the sums.
        """
        p = self._params()
        arrays = [p.W, p.visible_bias, p.hidden_bias]
        cd = getattr(trainer, "cd", trainer)  # the CD part of a hybrid trainer
        chains = None if cd is None else getattr(cd, "Vs", None)
        if chains is not None:
            arrays.append(chains)
        ok = all(np.isfinite(a).all() for a in arrays)
        if ok:
            scale = 1.0  # Bernoulli units and one-hot labels are in [0, 1]
            if self.visible == "gaussian":
                for a in (X.data if sp.issparse(X) else X, chains):
                    if a is not None and a.size:
                        scale = max(scale, float(a.max()), -float(a.min()))
            with np.errstate(over="ignore"):
                absW = np.abs(p.W)
                hidden = absW.sum(axis=1) * p.W.dtype.type(scale)
                hidden += np.abs(p.hidden_bias)
                visible = absW.sum(axis=0) + np.abs(p.visible_bias)
            ok = np.isfinite(hidden).all() and np.isfinite(visible).all()
        if not ok:
            variance = (
                " Gaussian visible units have variance temperature (now "
                f"{self.temperature}): for standardised data, keep it near 1."
                if self.visible == "gaussian"
                else ""
            )
            raise ValueError(
                f"Training diverged {when}: the parameters or the Gibbs chains "
                "became NaN or infinite, or so large that the units' inputs "
                "overflow. Lower learning_rate (now "
                f"{self.learning_rate_}) or momentum, or scale the data." + variance
            )

    # ------------------------------------------------------------------
    # threads
    # ------------------------------------------------------------------
    def _runner(self, rng):
        """The core's runner for training and sampling, seeded from ``rng``."""
        seed = int(rng.randint(SEED_MAX))
        return BlockRunner(effective_n_threads(self.n_jobs), seed)

    def _inference_runner(self):
        """Threads for inference: row chunks side by side, BLAS at one thread
        (results do not depend on n_jobs, nor on concurrent calls)."""
        return BlockRunner(effective_n_threads(self.n_jobs))

    @staticmethod
    def _check_sample_args(n_samples, n_steps):
        for name, value in (("n_samples", n_samples), ("n_steps", n_steps)):
            if not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")

    # ------------------------------------------------------------------
    # scikit-learn
    # ------------------------------------------------------------------
    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _boltzmann_tags(self, tags):
        """The tags the two estimators share. Called from each estimator's
        ``__sklearn_tags__`` after its mixins' (which come before this base
        in the MRO and would overwrite the transformer tags)."""
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = self.visible == "bernoulli"
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
