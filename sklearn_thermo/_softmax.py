"""TemperedSoftmaxClassifier: a softmax classifier at an explicit temperature."""

import contextlib
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets

from . import ops
from ._core._kernels import softmax_xent, softmax_xent_moments
from ._core.threads import blas_capped
from ._sklearn_private import Interval, StrOptions, _check_sample_weight, _fit_context
from ._validation import (
    check_fitted_params,
    restore_on_error,
    validate_numpy_data,
    warn_caller,
)

#: Range searched by temperature="auto" (the optimum is clipped to it).
_T_BOUNDS = (1e-2, 1e2)
#: alpha="auto" with temperature="auto": the multiples of 1 / n tried
#: (strongest first, each fit warm-starting the next)
_ALPHA_GRID = (10.0, 1.0, 0.1)
#: ... of which 1 / n (LogisticRegression's C = 1) is kept unless another
#: beats it out of fold by this many standard errors of the paired
#: per-sample difference: on small data the plain minimum of five folds'
#: losses is mostly noise, and chasing it loses held-out log-loss
_ALPHA_BASE = 1.0
_ALPHA_Z = 2.0
#: Up to this many elements n * d * K of the score products, L-BFGS runs with
#: BLAS at one thread (see ``_solve``). Set high on purpose: one thread wins
#: well beyond small problems, on a quiet machine as on a busy one.
_ONE_THREAD_ELEMENTS = 1 << 28
#: Up to this many entries of X, L-BFGS keeps a transposed copy of it (see
#: ``_class_scores``); the bound caps the extra memory at 32 MB in float64.
_TRANSPOSED_ELEMENTS = 1 << 22


def _scores(X, coef, intercept):
    """``f(x) = W x + b`` for every row, as an (n, K) array (K = 1 for binary)."""
    F = np.asarray(X @ coef.T)
    F += intercept
    return F


def _class_scores(X, coef, intercept, X_t=None):
    """The scores class-major, a C-contiguous (K, n) array: over K classes,
    reductions along its rows of n values are many times faster than along
    the short rows of ``_scores``'s (n, K). ``X_t``: ``X.T`` C-contiguous,
    if the caller keeps one (the product with it is about twice as fast)."""
    if X_t is not None:
        F = coef @ X_t
    elif sp.issparse(X):
        F = np.ascontiguousarray(np.asarray(X @ coef.T).T)
    else:
        F = coef @ X.T
    F += intercept[:, None]
    return F


def _class_targets(Y):
    """The targets class-major, C-contiguous: ``Y.T``, or for the binary
    single score the two-state targets ``(1 - y, y)``."""
    if Y.shape[1] == 1:
        return np.ascontiguousarray(np.vstack([1 - Y[:, 0], Y[:, 0]]))
    return np.ascontiguousarray(Y.T)


def _transposed(X, Y):
    """``(X.T, targets)`` for :func:`tempered_loss_grad` to keep between
    calls: ``X.T`` C-contiguous for dense X of at most
    ``_TRANSPOSED_ELEMENTS`` entries (else None), and ``_class_targets(Y)``."""
    X_t = None
    if not sp.issparse(X) and X.size <= _TRANSPOSED_ELEMENTS:
        X_t = np.ascontiguousarray(X.T)
    return X_t, _class_targets(Y)


def _binary_as_two_states(F):
    """Binary scores f as the two-state scores (0, f): softmax gives (1-p, p)."""
    return np.hstack([np.zeros_like(F), F])


def _sample_losses(F, Y, T):
    """Per-sample negative log-likelihoods of scores F at temperature T."""
    if Y.shape[1] == 1:
        F, Y = _binary_as_two_states(F), np.hstack([1 - Y, Y])
    return -(ops.log_softmax(F, T, axis=1) * Y).sum(axis=1)


def _lower_by(diff, sw, z, n_obs):
    """Whether the weighted mean of ``diff`` is below zero by more than ``z``
    standard errors, counting ``n_obs`` observations (the total sample
    weight: integer weights count as repeated rows, as everywhere in
    scikit-learn)."""
    if n_obs <= 1.0:
        return False  # one observation: no spread to compare the mean with
    mean = float(sw @ diff) / sw.sum()
    var = float(sw @ (diff - mean) ** 2) / sw.sum()
    return mean + z * np.sqrt(var / (n_obs - 1.0)) < 0


def fit_temperature(F, Y, sw):
    """``(T, loss)``: the temperature in ``_T_BOUNDS`` minimising the weighted
    negative log-likelihood of the scores F (one-hot or binary Y), and that
    loss.

    In the inverse temperature ``beta = 1 / T`` the loss is convex, with

    .. math::

        \\frac{\\partial L}{\\partial \\beta}
        = \\langle \\mathbb{E}_{p_\\beta}[f] - f_y \\rangle, \\qquad
        \\frac{\\partial^2 L}{\\partial \\beta^2}
        = \\langle \\operatorname{Var}_{p_\\beta}[f] \\rangle \\ge 0

    (averages over the rows): the fitted temperature is the one at which the
    model's mean score equals the data's, as in any Boltzmann fit of an
    inverse temperature. Safeguarded Newton steps on ``beta`` find it in a
    few passes. If the loss is the same (to 1e-8, relative) at both ends of
    the range and at ``T = 1``, it is flat over the range (convexity), the
    scores carry no information on T, and ``T = 1``. Each pass is one
    compiled loop over the scores (the numpy path for scores near float64's
    limits).
    """
    if Y.shape[1] == 1:
        F, Y = _binary_as_two_states(F), np.hstack([1 - Y, Y])
    F = F.astype(np.float64, copy=False)
    f_y = (F * Y).sum(axis=1)
    s_sum = sw.sum()
    # class-major copies for the compiled pass
    F_t = np.ascontiguousarray(F.T)
    Y_t = np.ascontiguousarray(Y.T, dtype=np.float64)
    w_rel = sw / s_sum

    def evaluate(beta):
        moments = softmax_xent_moments(F_t, Y_t, w_rel, beta)
        if moments is not None:
            return moments
        # scores near float64's limits: the stable numpy path
        log_p = ops.log_softmax(F, 1.0 / beta, axis=1)
        P = np.exp(log_p)
        mean = (P * F).sum(axis=1)
        var = (P * (F - mean[:, None]) ** 2).sum(axis=1)
        loss = -float(sw @ (log_p * Y).sum(axis=1)) / s_sum
        return loss, float(sw @ (mean - f_y)) / s_sum, float(sw @ var) / s_sum

    lo, hi = 1.0 / _T_BOUNDS[1], 1.0 / _T_BOUNDS[0]
    at_lo, at_hi, at_one = evaluate(lo), evaluate(hi), evaluate(1.0)
    ends = (at_lo[0], at_hi[0], at_one[0])
    if max(ends) - min(ends) <= 1e-8 * max(1.0, abs(min(ends))):
        return 1.0, at_one[0]
    if at_lo[1] >= 0:  # rising from the hottest end: the optimum is there
        return 1.0 / lo, at_lo[0]
    if at_hi[1] <= 0:  # still falling at the coldest end
        return 1.0 / hi, at_hi[0]
    beta, (loss, g, h) = 1.0, at_one
    for _ in range(100):
        if g < 0:
            lo = beta
        else:
            hi = beta
        step = beta - g / h if h > 0 else np.nan
        if not lo < step < hi:  # Newton left the bracket: bisect (log scale)
            step = np.sqrt(lo * hi)
        if abs(step - beta) <= 1e-10 * beta or g == 0:
            break
        beta = step
        loss, g, h = evaluate(beta)
    return 1.0 / beta, loss


def tempered_loss_grad(w, X, Y, sw, alpha, T, fit_intercept, transposed=(None, None)):
    """Mean tempered cross-entropy plus ``alpha / 2 ||W||^2``, and its gradient.

    .. math::

        L(W, b) = \\frac{1}{\\sum_i s_i} \\sum_i -s_i
                  \\log \\operatorname{softmax}_T(W x_i + b)_{y_i}
                  + \\frac{\\alpha}{2} \\lVert W \\rVert^2

    ``w`` packs ``W`` (K, d) then ``b`` (K,) when fitted; ``Y`` is one-hot
    (n, K) for K > 1 classes' scores, or the 0/1 target (n, 1) for the binary
    single-score model ``p(y=1|x) = sigmoid(f(x) / T)``. ``transposed``:
    what :func:`_transposed` returns, when the caller keeps it (a solver
    calls this many times with the same X and Y). Knows nothing of scikit-learn;
    the softmax goes through the compiled kernel of the package's core (the
    binary score f as the two states (0, f)), or, for scores near the
    dtype's limits or extreme temperatures, through :mod:`.ops`.
    """
    n, d = X.shape
    K = Y.shape[1]
    dtype = X.dtype
    W = w[: K * d].reshape(K, d)
    b = w[K * d :] if fit_intercept else np.zeros(K)
    X_t, Y_t = transposed
    F = _class_scores(X, W.astype(dtype, copy=False), b.astype(dtype, copy=False), X_t)
    s_sum = sw.sum()
    Y_t = _class_targets(Y) if Y_t is None else Y_t
    # the binary single score f as the two-state scores (0, f)
    S = F if K > 1 else np.vstack([np.zeros_like(F), F])
    # S <- dL/dS in one compiled pass (None: scores out of its range)
    mean_loss = softmax_xent(S, Y_t, sw / s_sum, float(T))
    if mean_loss is not None:
        R = S[1:] if K == 1 else S
    else:
        if K == 1:
            f = F[0]
            # -log p(y|x) = softplus_T(-(2y - 1) f) / T
            signed = f * (1 - 2 * Y[:, 0])
            loss = ops.softplus(signed, T) / T
            R = (ops.sigmoid(f, T) - Y[:, 0])[None, :]
        else:
            # -log p(y|x) = logsumexp(F / T) - F_y / T; one exp pass for P and it
            true_scores = np.einsum("ki,ki->i", F, Y_t) / T
            loss = ops._softmax_and_lse_(F, T, axis=0) - true_scores
            R = F
            R -= Y_t
        mean_loss = float(sw @ loss) / s_sum
        R *= (sw / (s_sum * T)).astype(dtype, copy=False)  # dL/dF, (K, n)
    value = mean_loss + 0.5 * alpha * float(np.vdot(W, W))
    grad_W = np.asarray(X.T @ R.T).T.astype(np.float64) + alpha * W
    if not fit_intercept:
        return value, grad_W.ravel()
    return value, np.concatenate([grad_W.ravel(), R.sum(axis=1, dtype=np.float64)])


def _class_weights(class_weight, classes, y_enc, sample_weight):
    """The weight of each class: from a dict (1 for a class it omits), or
    ``"balanced"``: ``n / (K n_k)`` with ``n`` and ``n_k`` the weighted row
    counts, so that sample weights and repeated rows agree (as scikit-learn's
    ``compute_class_weight`` with ``sample_weight``, which 1.6 lacks)."""
    K = len(classes)
    if class_weight == "balanced":
        top = sample_weight.max(initial=0.0)
        w = sample_weight / top if top > 0 else sample_weight
        counts = np.bincount(y_enc, weights=w, minlength=K)
        with np.errstate(divide="ignore"):
            return np.where(counts > 0, counts.sum() / (K * counts), 0.0)
    _check_class_weight(class_weight)
    unknown = [c for c in class_weight if c not in set(classes.tolist())]
    if unknown:
        raise ValueError(
            f"class_weight has classes not in the data: {unknown}; the classes "
            f"are {classes.tolist()}."
        )
    return np.array([float(class_weight.get(c, 1.0)) for c in classes.tolist()])


def _check_class_weight(class_weight):
    """A clear error for class weights that are not finite numbers >= 0."""
    for label, weight in class_weight.items():
        ok = isinstance(weight, Real) and not isinstance(weight, bool)
        if not ok or not np.isfinite(weight) or weight < 0:
            raise ValueError(
                f"class_weight must map classes to finite weights >= 0; got "
                f"{weight!r} for class {label!r}."
            )


class TemperedSoftmaxClassifier(ClassifierMixin, BaseEstimator):
    """Multinomial softmax classifier with an explicit temperature.

    The class probabilities are a Boltzmann distribution over the classes,

    .. math::

        p(y \\mid x) = \\operatorname{softmax}\\left(\\frac{f(x)}{T}\\right)_y,
        \\qquad f(x) = W x + b,

    so the energy of class ``y`` is ``-f_y(x)``. For two classes there is a
    single score ``f`` and ``p(y=1|x) = sigmoid(f(x) / T)``, as in
    :class:`~sklearn.linear_model.LogisticRegression`.

    With a float temperature, ``fit`` minimises the mean tempered
    cross-entropy plus an L2 penalty by L-BFGS:

    .. math::

        \\frac{1}{\\sum_i s_i} \\sum_i -s_i \\log p(y_i \\mid x_i)
        + \\frac{\\alpha}{2} \\lVert W \\rVert_F^2 .

    At ``temperature=1`` this is ``LogisticRegression(C=1 / (alpha * sum_i s_i))``
    (``C = 1 / (alpha * n_samples)`` without sample weights).

    **How temperature and alpha interact.** Writing ``W = T W'`` shows that
    fitting at ``(T, alpha)`` gives exactly the probabilities of fitting at
    ``(1, alpha * T**2)``: with a fixed ``alpha`` a higher temperature means
    stronger regularisation, hence softer probabilities; with ``alpha=0`` the
    temperature cancels out of the fitted probabilities. ``temperature="auto"``
    is different: it fits ``W`` at ``T = 1``, then chooses ``T`` after the
    fact (temperature scaling, Guo et al. 2017), which changes the confidence
    of a model's predictions but never their argmax. By default
    (``ensemble=True``) it then predicts with the mean of the cross-fitted
    fold models' probabilities, each at its own temperature:

    .. math::

        p(y \\mid x) = \\frac{1}{K} \\sum_{k=1}^{K}
        \\operatorname{softmax}_{T_k}(W_k x + b_k)_y ,

    which is better calibrated on held-out data than one model fitted on all
    the data, at the price of ``K`` models in memory.

    Parameters
    ----------
    temperature : float or "auto", default=1.0
        ``T > 0``. ``"auto"``: fit ``W`` at ``T = 1`` on each of ``cv``
        internal folds, then choose ``T`` in ``[0.01, 100]`` minimising the
        negative log-likelihood of the out-of-fold scores; if that likelihood
        varies by less than 1e-8 (relative) over the whole range (e.g. all
        scores are about zero), ``T = 1``. What predicts is set by
        ``ensemble``. A float set on a fitted model (``set_params``) reads
        it at that temperature, without refitting: hotter is softer, colder
        harder, every ensemble member alike; ``"auto"`` reads it at the
        fitted temperatures.
    alpha : float or "auto", default="auto"
        L2 penalty on ``W`` (not on the intercept), per unit of the mean
        loss. ``"auto"``: with a float temperature, ``1 / sum_i s_i``
        (``1 / n_samples`` without sample weights), which is
        LogisticRegression's default ``C = 1``, so that the default
        classifier equals ``LogisticRegression()`` and the penalty shrinks
        as the data grow; with ``temperature="auto"``, one of
        ``(10, 1, 0.1) / sum_i s_i``, chosen with the temperature on the same
        folds: ``1 / sum_i s_i`` unless another value's out-of-fold negative
        log-likelihood (each after its own temperature scaling) is lower by
        more than two standard errors of the paired per-sample difference
        (then the lowest such value).
    fit_intercept : bool, default=True
        Fit the intercept ``b``.
    max_iter : int, default=1000
        Most L-BFGS iterations; a ConvergenceWarning says when they run out.
    tol : float, default=1e-4
        L-BFGS stops when the largest gradient component of the (mean,
        sample-weight normalised) objective is below ``tol``, as in
        LogisticRegression.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    cv : int, cross-validation generator or iterable, default=5
        Internal folds for ``temperature="auto"``, as in scikit-learn
        (an int means that many stratified folds).
    ensemble : bool, default=True
        Used only with ``temperature="auto"``. True: keep the fold models,
        each at the temperature fitted on its own held-out fold, and predict
        with the mean of their probabilities (the recipe of scikit-learn's
        ``CalibratedClassifierCV(ensemble=True)``, with ``alpha`` chosen as
        above); no model is fitted on all the data. False: one model fitted
        on all the data at the temperature of the pooled out-of-fold scores.
        The mean of several tempered softmaxes is not a softmax of one linear
        score: averaging is softer where the fold models disagree, which is
        where a single model is overconfident.
    verbose : int, default=0
        Print the L-BFGS result, and the chosen temperature for ``"auto"``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        ``W``; with the ensemble, the mean of the fold models' ``W`` (a
        summary: predictions average the members' probabilities instead).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        ``b``, or the fold models' mean ``b``.
    temperature_ : float
        The temperature of the fit: the float ``temperature``, or with
        ``"auto"`` that of the pooled out-of-fold scores (the ensemble's
        members have their own).
    ensemble_coef_ : ndarray of shape (n_folds, K, n_features)
        The ensemble's members' ``W`` (``K`` is 1 for binary problems), fitted
        at ``T = 1``. Only with ``temperature="auto"`` and ``ensemble=True``,
        as are the two attributes below.
    ensemble_intercept_ : ndarray of shape (n_folds, K)
    ensemble_temperature_ : ndarray of shape (n_folds,)
        Each member's temperature, fitted on its own held-out fold.
    alpha_ : float
        The L2 penalty of the fit (``alpha``, or what ``"auto"`` chose). With
        ``alpha="auto"``, the ensemble's members (and the internal folds) use
        the same multiple of ``1 / sum_i s_i`` over their own training rows.
    n_iter_ : ndarray of shape (1,)
        L-BFGS iterations of the final fit (with the ensemble, the most any
        member took).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_thermo import TemperedSoftmaxClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = TemperedSoftmaxClassifier(temperature=2.0).fit(X, y)
    >>> round(float(clf.predict_proba(X[:1]).sum()), 12)
    1.0
    """

    _parameter_constraints: dict = {
        "temperature": [
            Interval(Real, 0, np.inf, closed="neither"),
            StrOptions({"auto"}),
        ],
        "alpha": [Interval(Real, 0, np.inf, closed="left"), StrOptions({"auto"})],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "cv": ["cv_object"],
        "ensemble": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        temperature=1.0,
        *,
        alpha="auto",
        fit_intercept=True,
        max_iter=1000,
        tol=1e-4,
        class_weight=None,
        warm_start=False,
        cv=5,
        ensemble=True,
        verbose=0,
    ):
        self.temperature = temperature
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.cv = cv
        self.ensemble = ensemble
        self.verbose = verbose

    # ------------------------------------------------------------------
    def _solve(self, X, Y, sw, T, w0, alpha):
        K, d = Y.shape[1], X.shape[1]
        # L-BFGS alternates short BLAS calls with Python and Fortran work. With
        # multithreaded BLAS, the idle threads of the BLAS pools (numpy's and
        # scipy's wheels each bring one) spin between calls and take the
        # cores from the work itself: several times slower on small problems,
        # even on a quiet machine. Large products still gain from threads.
        small = X.shape[0] * d * K <= _ONE_THREAD_ELEMENTS
        transposed = _transposed(X, Y)
        with blas_capped() if small else contextlib.nullcontext():
            res = scipy.optimize.minimize(
                tempered_loss_grad,
                w0,
                args=(X, Y, sw, alpha, T, self.fit_intercept, transposed),
                method="L-BFGS-B",
                jac=True,
                options={
                    "maxiter": self.max_iter,
                    "maxls": 50,
                    "gtol": self.tol,
                    "ftol": 64 * np.finfo(float).eps,
                },
            )
        if self.verbose:
            print(
                f"[{type(self).__name__}] L-BFGS: {res.nit} iterations, "
                f"loss = {res.fun:.6g}, {res.message}"
            )
        if res.status == 1:
            warn_caller(
                f"L-BFGS stopped at max_iter={self.max_iter} before the gradient "
                f"fell below tol={self.tol}; increase max_iter or scale the data.",
                ConvergenceWarning,
            )
        w = res.x
        coef = w[: K * d].reshape(K, d)
        intercept = w[K * d :] if self.fit_intercept else np.zeros(K)
        return coef, intercept, int(res.nit)

    def _initial(self, K, d):
        size = K * d + (K if self.fit_intercept else 0)
        if self.warm_start and hasattr(self, "coef_") and self.coef_.shape == (K, d):
            w0 = [self.coef_.ravel()]
            if self.fit_intercept:
                w0.append(self.intercept_)
            return np.concatenate(w0).astype(np.float64)
        return np.zeros(size)

    def _auto_temperature(self, X, y_enc, Y, sw, w0, alphas, base, per_weight, n_obs):
        """Choose ``(alpha, T)`` on out-of-fold scores of fits at T = 1, and
        return the chosen alpha's fold models
        ``[(coef, intercept, L-BFGS iterations, T_k)]``.

        Each fold fits the alphas from the strongest penalty down, each fit
        warm-starting the next; every alpha's pooled out-of-fold scores get
        their own temperature. ``alphas[base]`` is kept unless another alpha
        lowers the loss by more than ``_ALPHA_Z`` standard errors of the
        paired per-sample difference. ``T_k`` is the temperature fitted on
        fold k's held-out scores alone (the ensemble's member temperature).
        With ``per_weight``, the alphas are per unit of all the weight, and
        each fold scales them to its own training weight (as
        LogisticRegression's C = 1 does on each fold).
        """
        F = np.zeros((len(alphas), X.shape[0], Y.shape[1]))
        folds = list(
            check_cv(self.cv, y_enc, classifier=True).split(
                np.zeros((len(y_enc), 1)), y_enc
            )
        )
        fold_models = [[] for _ in alphas]
        for train, test in folds:
            w = w0
            X_fold, Y_fold, sw_fold = X[train], Y[train], sw[train]  # copied once
            scale = sw.sum() / sw_fold.sum() if per_weight else 1.0
            for k, alpha in enumerate(alphas):
                coef, b, nit = self._solve(
                    X_fold, Y_fold, sw_fold, 1.0, w, alpha * scale
                )
                w = np.concatenate([coef.ravel(), b if self.fit_intercept else []])
                fold_models[k].append((coef, b, nit))
                F[k, test] = _scores(X[test], coef.astype(X.dtype), b.astype(X.dtype))
        fits = [fit_temperature(F[k], Y, sw) for k in range(len(alphas))]
        best = base
        for k in range(len(alphas)):
            if k != base and fits[k][1] < fits[best][1]:
                diff = _sample_losses(F[k], Y, fits[k][0]) - _sample_losses(
                    F[base], Y, fits[base][0]
                )
                if _lower_by(diff, sw, _ALPHA_Z, n_obs):
                    best = k
        members = [
            (coef, b, nit, fit_temperature(F[best][test], Y[test], sw[test])[0])
            for (coef, b, nit), (_, test) in zip(fold_models[best], folds)
        ]
        return alphas[best], fits[best][0], members

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y, sample_weight=None):
        """Fit the classifier.

        All or nothing: if the fit does not finish (bad input, divergence,
        ``KeyboardInterrupt``), the estimator is left exactly as it was
        before the call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (at least two classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the loss is their weighted mean.

        Returns
        -------
        self : TemperedSoftmaxClassifier
        """
        X, y = validate_numpy_data(
            self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32)
        )
        check_classification_targets(y)
        le = LabelEncoder()
        y_enc = le.fit_transform(y)
        self.classes_ = le.classes_
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                "TemperedSoftmaxClassifier needs samples of at least 2 classes in "
                f"the data; got 1 class: {self.classes_[0].tolist()!r}."
            )
        sw = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if self.class_weight is not None:
            sw = sw * _class_weights(self.class_weight, self.classes_, y_enc, sw)[y_enc]
        # the loss is a weighted mean: scaling the weights changes nothing
        # but keeps their sums finite (weights of 1e308 would overflow)
        top = sw.max(initial=0.0)
        if top > 0:
            sw = sw / top
        # LogisticRegression's C = 1 on the unscaled weights
        unit_alpha = 1.0 / top / sw.sum() if top > 0 else 0.0
        weighted = np.unique(y_enc[sw > 0])
        if len(weighted) < 2:
            raise ValueError(
                "TemperedSoftmaxClassifier needs samples of at least 2 classes "
                "with positive weight (sample_weight times class_weight); got "
                f"{len(weighted)} class(es)."
            )
        if n_classes == 2:
            Y = y_enc[:, None].astype(X.dtype)
        else:
            Y = np.eye(n_classes, dtype=X.dtype)[y_enc]
        K, d = Y.shape[1], X.shape[1]
        w0 = self._initial(K, d)
        if self.alpha != "auto":
            alphas, base = [float(self.alpha)], 0
        elif self.temperature == "auto":
            alphas = [unit_alpha * m for m in _ALPHA_GRID]
            base = _ALPHA_GRID.index(_ALPHA_BASE)
        else:
            alphas, base = [unit_alpha], 0
        for name in ("ensemble_coef_", "ensemble_intercept_", "ensemble_temperature_"):
            if hasattr(self, name):
                delattr(self, name)
        if self.temperature == "auto":
            alpha, T, members = self._auto_temperature(
                X,
                y_enc,
                Y,
                sw,
                w0,
                alphas,
                base,
                per_weight=self.alpha == "auto",
                n_obs=sw.sum() * top,
            )
            if self.ensemble:
                W = np.stack([m[0] for m in members]).astype(X.dtype)
                B = np.stack([m[1] for m in members]).astype(X.dtype)
                self.ensemble_coef_, self.ensemble_intercept_ = W, B
                self.ensemble_temperature_ = np.array([m[3] for m in members])
                coef, intercept = W.mean(axis=0), B.mean(axis=0)
                n_iter = max(m[2] for m in members)
            else:
                coef, intercept, n_iter = self._solve(X, Y, sw, 1.0, w0, alpha)
            if self.verbose:
                print(
                    f"[{type(self).__name__}] temperature_ = {T:.4g}, "
                    f"alpha_ = {alpha:.4g}"
                )
        else:
            alpha, T = alphas[0], float(self.temperature)
            coef, intercept, n_iter = self._solve(X, Y, sw, T, w0, alpha)
        self.coef_ = coef.astype(X.dtype)
        self.intercept_ = intercept.astype(X.dtype)
        self.temperature_ = T
        self.alpha_ = alpha
        self.n_iter_ = np.array([n_iter])
        return self

    # ------------------------------------------------------------------
    def _members(self, X):
        """``[(scores of every class, temperature)]``, one per model: the
        ensemble's members, or the one fitted model. Each at the fitted
        temperature, or at ``temperature`` where it is a float (set after
        fit, it reads the fitted model hotter or colder, as the Boltzmann
        estimators do)."""
        check_fitted_params(self)
        read = None if self.temperature == "auto" else float(self.temperature)
        X = validate_numpy_data(
            self, X, accept_sparse="csr", reset=False, dtype=(np.float64, np.float32)
        )
        if hasattr(self, "ensemble_coef_"):
            models = zip(
                self.ensemble_coef_,
                self.ensemble_intercept_,
                self.ensemble_temperature_,
            )
        else:
            models = [(self.coef_, self.intercept_, self.temperature_)]
        out = []
        for W, b, T in models:
            F = _scores(X, W.astype(X.dtype, copy=False), b.astype(X.dtype, copy=False))
            F = _binary_as_two_states(F) if F.shape[1] == 1 else F
            out.append((F, T if read is None else read))
        return out

    @staticmethod
    def _log_proba(members):
        """``log p(y|x)`` from ``_members``: the log of their mean
        probabilities."""
        if len(members) == 1:
            return ops.log_softmax(*members[0], axis=1)
        logs = np.stack([ops.log_softmax(F, T, axis=1) for F, T in members])
        return ops.logsumexp(logs, axis=0) - np.log(len(members)).astype(logs.dtype)

    def decision_function(self, X):
        """Scores whose softmax (sigmoid if binary) is predict_proba.

        One model: ``f(x) / T``. With the ensemble: ``log p(y|x)`` of the
        members' mean probabilities (binary: ``log(p_1 / p_0)``). Where
        ``f / T`` lies beyond the dtype's range (a tiny temperature set after
        fit) it saturates at the largest finite value, as
        :class:`~sklearn_thermo.EnergyClassifier`'s does;
        :meth:`predict_proba` and :meth:`predict` stay exact there.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column for binary problems (the score of ``classes_[1]``).
        """
        members = self._members(X)
        if len(members) == 1:
            F, T = members[0]
            with np.errstate(over="ignore"):
                F = F / T
            top = np.finfo(F.dtype).max
            F = np.clip(F, -top, top, out=F)
        else:
            F = self._log_proba(members)
        return F[:, 1] - F[:, 0] if len(self.classes_) == 2 else F

    def predict_proba(self, X):
        """Class probabilities; rows sum to one.

        One model: ``softmax(f(x) / T)``. With the ensemble, the mean of the
        members' ``softmax(f_k(x) / T_k)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        members = self._members(X)
        return sum(ops.softmax(F, T, axis=1) for F, T in members) / len(members)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return self._log_proba(self._members(X))

    def predict(self, X):
        """The most probable class of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        members = self._members(X)
        scores = members[0][0] if len(members) == 1 else self._log_proba(members)
        return self.classes_[np.argmax(scores, axis=1)]

    def free_energy(self, X):
        """Free energy of the class distribution of each row.

        .. math::

            F(x) = -T \\log \\sum_y e^{f_y(x) / T}

        (with scores ``(0, f)`` for binary problems); with the ensemble, the
        mean of the members' free energies. Sign: lower free energy means a
        larger total weight of the classes, i.e. an input the model scores
        more strongly; for one model ``p(y|x) = exp((f_y(x) + F(x)) / T)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        F : ndarray of shape (n_samples,)
        """
        members = self._members(X)
        return -sum(ops.logsumexp(F, T, axis=1) for F, T in members) / len(members)

    def predict_entropy(self, X):
        """Entropy (nats) of the predicted class distribution of each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        S : ndarray of shape (n_samples,)
            Between 0 (certain) and ``log(n_classes)`` (uniform).
        """
        members = self._members(X)
        if len(members) == 1:
            return ops.entropy(*members[0], axis=1)
        return ops.entropy(self._log_proba(members), 1.0, axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
