"""EnergyClassifier: the classification restricted Boltzmann machine."""

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state, gen_even_slices
from sklearn.utils.multiclass import check_classification_targets

from . import ops
from ._boltzmann import N_MONITOR, SEED_MAX, BaseBoltzmann
from ._core.conditional import ClassRBMTrainer, ConditionalKernel
from ._core.gibbs import base_rate_samples, sample_chains
from ._core.model import RBMParams, _row_sq_norms
from ._core.training import TrainState
from ._progress import progress
from ._sklearn_private import Interval, StrOptions, _fit_context
from ._validation import (
    check_fitted_params,
    check_representable,
    restore_on_error,
    validate_numpy_data,
    warn_caller,
)


def _check_classes(classes):
    """The sorted distinct labels of ``classes``; a clear error for a list
    that is not 1-D, mixes incomparable types (None) or holds NaN."""
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ValueError(
            f"classes must be a 1-D list of labels; got an array of shape "
            f"{classes.shape}."
        )
    try:
        unique = np.unique(classes)
    except TypeError:
        raise ValueError(
            "classes must hold labels of one comparable type (numbers or "
            f"strings, no None); got {classes.tolist()!r}."
        ) from None
    if unique.dtype == object:
        check_classification_targets(unique)
    if unique.dtype.kind in "fc" and not np.isfinite(unique).all():
        raise ValueError(f"classes must be finite labels; got {classes.tolist()!r}.")
    return unique


class EnergyClassifier(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClassifierMixin, BaseBoltzmann
):
    """Classification restricted Boltzmann machine (Larochelle & Bengio, 2008).

    An energy-based classifier: the label is a one-hot group of visible units
    beside the features ``x``, all connected to binary hidden units. Summing
    the hidden units out exactly gives the free energy of each pair
    ``(x, y)``, and the class probabilities are its Boltzmann distribution:

    .. math::

        F(x, y) = -d_y - \\sum_j \\operatorname{softplus}_T
                  (c_j + U_{jy} + W_j x), \\qquad
        p(y \\mid x) = \\frac{e^{-F(x, y) / T}}{\\sum_{y'} e^{-F(x, y') / T}}
        = \\operatorname{softmax}_y(-F(x, \\cdot) / T),

    with ``softplus_T(z) = T log(1 + e^{z / T})``, ``W = components_``,
    ``U = label_components_``, ``c = intercept_hidden_`` and
    ``d = intercept_label_``. Prediction needs no sampling. Sign: a lower
    free energy means a more probable pair. The joint model's complete free
    energy adds the terms that depend on ``x`` alone,
    ``F_0(x) = -a^T x`` (``+ ||x||^2 / 2`` for Gaussian features, ``a =
    intercept_visible_``); they cancel in ``p(y | x)`` and in
    :meth:`decision_function`, but :meth:`score_samples` and
    :meth:`free_energy` include them, so that they measure the model's
    density over ``x``.

    Training minimises ``-log p(y | x) - alpha log p(x, y)`` per sample:
    the first term by its exact gradient, the second by contrastive
    divergence (CD-k) on the joint ``(x, y)`` in the package's CD core.

    Parameters
    ----------
    n_components : int, default=256
        Number of binary hidden units.
    method : {"discriminative", "generative", "hybrid"}, default="hybrid"
        ``"discriminative"``: minimise ``-log p(y | x)`` by its exact
        gradient. ``"generative"``: maximise ``log p(x, y)`` by CD-k.
        ``"hybrid"``: both, the generative term weighted by
        ``generative_weight``; it regularises the classifier and makes a
        model that can also generate (``sample``). The default because it
        classified best in ``benchmarks/bench_energy.py`` (figures in
        ``benchmarks/RESULTS.md``).
    generative_weight : float, default=0.5
        ``alpha`` of the hybrid loss. Ignored unless ``method="hybrid"``.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Type of the feature units: ``"bernoulli"`` for data in ``[0, 1]``,
        ``"gaussian"`` (variance ``T``) for standardised data. Matters for
        the generative part and for ``sample``.
    temperature : float, default=1.0
        ``T > 0``. Training and prediction both use it; a higher temperature
        gives softer probabilities and a softer hidden layer. With Bernoulli
        features the model depends on its parameters over ``T`` only; the
        initial weights and the step scale with ``T`` and ``T^2``, so that a
        fit at ``T`` with ``weight_decay`` ``lambda`` is the fit at
        ``T = 1`` with ``lambda T^2``, its parameters ``T`` times as large:
        fitted, ``T`` acts as a penalty; set on a fitted model, it reads the
        model hotter or colder. Gaussian features have variance ``T`` (scale
        ``sqrt(T)``): for standardised data, keep it near 1.
    learning_rate : float or "auto", default="auto"
        Step size of stochastic gradient descent with momentum, in the units
        of the model at ``T = 1``: the step on the parameters' gradient is
        ``learning_rate * T^2`` for Bernoulli features and
        ``learning_rate * T`` for Gaussian ones. ``"auto"``:
        0.1 for Bernoulli features (0.2 for ``method="discriminative"``,
        whose exact gradient carries no sampling noise and which classified
        better with the larger step on digits and MNIST in
        ``benchmarks/bench_energy.py``) and 0.01 for Gaussian ones.
    learning_rate_schedule : {"linear", "constant"}, default="linear"
        ``"linear"`` decays the rate linearly to zero over ``max_iter``
        epochs; ``partial_fit`` always uses it as given. For short runs
        (ten epochs of a large data set) ``"constant"`` trains the hybrid
        model further in the same time and classified better in
        ``benchmarks/bench_energy.py``; the decay serves the default
        ``max_iter``.
    batch_size : int, default=20
        Samples per update.
    max_iter : int, default=60
        Most epochs (passes over the data). With the linear schedule it is
        the length of the annealing, which ends there by design; with the
        constant one, a ``ConvergenceWarning`` says when training reached it
        while the loss (or validation score) was still improving.
    momentum : float, default=0.9
        Momentum of the updates, in ``[0, 1)``.
    weight_decay : float, default=1e-4
        L2 penalty on the weights ``W`` and ``U``.
    n_gibbs_steps : int, default=1
        ``k`` of CD-k for the generative part.
    early_stopping : bool, default=False
        Set aside ``validation_fraction`` of the training data (stratified)
        and stop when its accuracy has not improved by ``tol`` for
        ``n_iter_no_change`` epochs; the best parameters are kept.
    validation_fraction : float, default=0.1
        Share of the training data set aside when ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` after which
        training stops: in the validation accuracy with ``early_stopping``,
        else in the training loss ``-log p(y | x)`` under the constant
        schedule. The linear schedule without ``early_stopping`` runs its
        ``max_iter`` epochs: its step decays to zero there, and on small
        data the loss of its first, large steps rises and falls, so that a
        stop on the training loss could leave the model where a large step
        had thrown it.
    tol : float, default=1e-4
        The improvement that counts.
    n_jobs : int, default=None
        Threads of the CD core and of the exact ``p(y | x)`` kernel.
        ``None`` takes ``n_jobs`` from an active
        ``joblib.parallel_config(n_jobs=...)`` context, and otherwise uses all
        cores this process may use (one when it runs inside an outer
        parallel loop such as ``GridSearchCV(n_jobs=-1)``, or fewer under a
        threadpoolctl limit), as scikit-learn's OpenMP-threaded estimators
        (KMeans, HistGradientBoosting) do: a departure from the glossary's
        "``None`` means 1", since the core's threads share one process and
        never oversubscribe it;
        ``-1`` all of those; a positive value that many. Results for a
        fixed ``random_state`` do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the batch order, the validation split and
        the Gibbs chains.
    verbose : int, default=0
        ``1`` prints one line per epoch (loss, validation score, time);
        ``2`` adds a progress bar over the batches of each epoch (tqdm when
        it is installed, else a plain counter on stderr).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    components_ : ndarray of shape (n_components, n_features)
        Weights ``W`` between the features and the hidden units.
    label_components_ : ndarray of shape (n_components, n_classes)
        Weights ``U`` between the label units and the hidden units.
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases ``c``.
    intercept_visible_ : ndarray of shape (n_features,)
        Feature biases ``a`` (used by the generative part only).
    intercept_label_ : ndarray of shape (n_classes,)
        Label biases ``d``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when they are all strings.
    n_iter_ : int
        Epochs run.
    learning_rate_ : float
        The learning rate before the schedule: ``learning_rate``, or the
        value of ``"auto"``.
    loss_curve_ : list of float
        Mean training loss ``-log p(y | x)`` of each epoch (for
        ``method="generative"``, measured on a few hundred training rows
        after the epoch; otherwise averaged over the epoch's batches).
    validation_scores_ : list of float or None
        Validation accuracy of each epoch with ``early_stopping``.
    best_validation_score_ : float or None
        Best of them.

    See Also
    --------
    BoltzmannMachine : The unsupervised RBM (no labels).
    TemperedSoftmaxClassifier : A linear softmax classifier with a temperature.

    Notes
    -----
    Parameters after fit: ``temperature``, ``n_jobs``, ``verbose`` and the
    training settings (used by the next ``partial_fit``) may be changed with
    ``set_params`` on a fitted model, and are validated when they are used;
    ``n_components`` and ``visible`` fix the fitted model, and a method
    called after either has changed raises a ValueError (fit again).

    Threads: a fitted model may be used for inference from several threads
    at once (each result equals the serial one). Do not fit it, or change
    its parameters, while another thread uses it: give each thread a
    ``sklearn.base.clone``.

    References
    ----------
    H. Larochelle and Y. Bengio, "Classification using discriminative
    restricted Boltzmann machines", ICML 2008. H. Larochelle, M. Mandel,
    R. Pascanu and Y. Bengio, "Learning algorithms for the classification
    restricted Boltzmann machine", JMLR 13, 2012. W. Liu, X. Wang, J. Owens
    and Y. Li, "Energy-based out-of-distribution detection", NeurIPS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_thermo import EnergyClassifier
    >>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 0], [1, 1, 0]] * 5)
    >>> y = np.array([0, 0, 1, 1] * 5)
    >>> clf = EnergyClassifier(n_components=8, max_iter=300, random_state=0)
    >>> clf.fit(X, y).predict([[0, 0, 1], [1, 1, 0]])
    array([0, 1])
    >>> clf.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    """

    _parameter_constraints: dict = {
        **BaseBoltzmann._parameter_constraints,
        "method": [StrOptions({"discriminative", "generative", "hybrid"})],
        "generative_weight": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    _DEFAULT_LEARNING_RATE = {"bernoulli": 0.1, "gaussian": 0.01}
    #: "auto" for the discriminative objective on Bernoulli features
    _DISCRIMINATIVE_STEP = 0.2

    def __init__(
        self,
        n_components=256,
        *,
        method="hybrid",
        generative_weight=0.5,
        visible="bernoulli",
        temperature=1.0,
        learning_rate="auto",
        learning_rate_schedule="linear",
        batch_size=20,
        max_iter=60,
        momentum=0.9,
        weight_decay=1e-4,
        n_gibbs_steps=1,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.method = method
        self.generative_weight = generative_weight
        self.visible = visible
        self.temperature = temperature
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.n_gibbs_steps = n_gibbs_steps
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------
    # fitted parameters: views of the joint model's arrays
    # ------------------------------------------------------------------
    @property
    def components_(self):
        return self._W[:, : self.n_features_in_]

    @property
    def label_components_(self):
        return self._W[:, self.n_features_in_ :]

    @property
    def intercept_visible_(self):
        return self._visible_bias[: self.n_features_in_]

    @property
    def intercept_label_(self):
        return self._visible_bias[self.n_features_in_ :]

    def _params(self, dtype=None):
        params = RBMParams(
            self._W,
            self._visible_bias,
            self.intercept_hidden_,
            self.visible,
            len(self.classes_),
        )
        return params if dtype is None else params.astype(dtype)

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _generative_weight(self):
        return {
            "discriminative": 0.0,
            "generative": 1.0,
            "hybrid": float(self.generative_weight),
        }[self.method]

    def _encode(self, y, remedy=""):
        """Class indices of ``y``; a clear error for labels not in classes_."""
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels not in classes_ {self.classes_.tolist()}: "
                f"{unseen.tolist()[:10]}.{remedy}"
            )
        return np.searchsorted(self.classes_, y)

    def _initialize(self, X, y_idx, rng, sample_weight=None):
        V = X.shape[1]
        K = len(self.classes_)
        dtype = X.dtype
        T = float(self.temperature)
        self._W = self._initial_weights(
            np.empty((self.n_components, V + K), dtype), rng
        )
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=dtype)
        a = self._initial_visible_bias(X, sample_weight)
        w = np.ones(len(y_idx)) if sample_weight is None else sample_weight
        counts = np.bincount(y_idx, weights=w, minlength=K)
        prior = (counts + 1.0) / (counts.sum() + K)
        d = T * np.log(prior)  # p(y) at the start: the class frequencies
        self._visible_bias = np.concatenate([a, d]).astype(dtype)
        params = self._params()
        self._state = TrainState.zeros(params)
        self._rng = rng
        self._resolve_learning_rate(X, sample_weight)
        self._remember_structure()
        self.n_iter_ = 0
        self.loss_curve_ = []

    def _auto_learning_rate(self, X, sample_weight=None, column_stats=None):
        if self.method == "discriminative" and self.visible == "bernoulli":
            return self._DISCRIMINATIVE_STEP
        return super()._auto_learning_rate(X, sample_weight, column_stats)

    def _trainer(self, max_batch, runner):
        return ClassRBMTrainer(
            self._params(),
            self._state,
            max_batch=max_batch,
            discriminative=self.method != "generative",
            generative_weight=self._generative_weight(),
            n_steps=self.n_gibbs_steps,
            temperature=self.temperature,
            runner=runner,
        )

    def _epoch(
        self, trainer, X, Y, lr, momentum, rng, desc="partial_fit", weights=None
    ):
        """One pass over X in random batches; the (weighted) mean loss of the
        pass. ``weights``: per row, scaled to a mean of one."""
        n = X.shape[0]
        n_batches = int(np.ceil(n / self.batch_size))
        slices = gen_even_slices(n, n_batches)
        order = rng.permutation(n)
        total = 0.0
        for batch in progress(
            slices, total=n_batches, enabled=self.verbose >= 2, desc=desc
        ):
            total += trainer.step(
                X, order[batch], Y, lr, momentum, self.weight_decay, weights
            )
        return total / n

    def _nll(self, X, y_idx, runner, weights=None):
        """The (weighted) mean ``-log p(y | x)`` of the rows of X."""
        _, S = ConditionalKernel(
            self._params(X.dtype), self.temperature, runner
        ).scores(X)
        lse = ops.logsumexp(S, 1.0, axis=1)
        return float(np.average(lse - S[np.arange(len(y_idx)), y_idx], weights=weights))

    # ------------------------------------------------------------------
    # fitting
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y, sample_weight=None):
        """Fit the model by stochastic gradient descent with momentum.

        All or nothing: if the fit does not finish (bad input, divergence,
        ``KeyboardInterrupt``), the estimator is left exactly as it was
        before the call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; in ``[0, 1]`` for Bernoulli features.
        y : array-like of shape (n_samples,)
            Class labels (at least two classes).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows: the loss is their weighted
            mean, and the data's statistics of the generative part are
            weighted (the model's are not). Integer weights act as repeated
            rows (exactly for the discriminative gradient of one batch, in
            expectation over the batches otherwise).

        Returns
        -------
        self : EnergyClassifier
            The fitted model.
        """
        X, y = validate_numpy_data(
            self, X, y, accept_sparse="csr", dtype=(np.float64, np.float32), reset=True
        )
        check_classification_targets(y)  # the target first, then X's domain
        X = self._check_domain(X)
        self.classes_ = LabelEncoder().fit(y).classes_
        if len(self.classes_) < 2:
            raise ValueError(
                "EnergyClassifier needs samples of at least 2 classes in the "
                f"data; got 1 class: {self.classes_[0].tolist()!r}."
            )
        y_idx = self._encode(y)
        raw_w, _ = self._check_weights(sample_weight, X)
        rng = check_random_state(self.random_state)
        X_val = y_val = None
        if self.early_stopping:
            # stratified when every class can appear on both sides
            n_val = int(np.ceil(self.validation_fraction * len(y_idx)))
            counts = np.bincount(y_idx)
            fits = counts.min() >= 2 and len(counts) <= min(n_val, len(y_idx) - n_val)
            stratify = y_idx if fits else None
            split = train_test_split(
                X,
                y_idx,
                *([] if raw_w is None else [raw_w]),
                test_size=self.validation_fraction,
                random_state=rng.randint(SEED_MAX),
                stratify=stratify,
            )
            X, X_val, y_idx, y_val = split[:4]
            if raw_w is not None:
                raw_w = split[4]  # the training rows' weights
        raw_w, w = self._check_weights(raw_w, X)
        self._initialize(X, y_idx, rng, raw_w)
        Y = np.eye(len(self.classes_), dtype=X.dtype)[y_idx]
        n = X.shape[0]
        max_batch = int(np.ceil(n / np.ceil(n / self.batch_size)))
        monitor = rng.permutation(n)[:N_MONITOR]
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = None
        best, best_params, no_change = np.inf, None, 0
        begin = time.perf_counter()
        with self._runner(rng) as runner:
            trainer = self._trainer(max_batch, runner)
            for epoch in range(self.max_iter):
                lr = self._learning_rate(epoch)
                loss = self._epoch(
                    trainer,
                    X,
                    Y,
                    lr,
                    self.momentum,
                    rng,
                    desc=f"epoch {epoch + 1}",
                    weights=w,
                )
                self._check_finite(f"in epoch {epoch + 1}", trainer, X)
                if self.method == "generative":
                    loss = self._nll(
                        X[monitor],
                        y_idx[monitor],
                        runner,
                        None if w is None else w[monitor],
                    )
                self.loss_curve_.append(loss)
                self.n_iter_ = epoch + 1
                message = f"loss = {loss:.4f}"
                if self.early_stopping:
                    _, S = ConditionalKernel(
                        self._params(X.dtype), self.temperature, runner
                    ).scores(X_val)
                    score = float(np.mean(np.argmax(S, axis=1) == y_val))
                    self.validation_scores_.append(score)
                    message += f", validation score = {score:.4f}"
                    criterion = -score
                else:
                    criterion = loss
                if self.verbose:
                    print(
                        f"[{type(self).__name__}] Iteration {epoch + 1}, "
                        f"{message}, time = {time.perf_counter() - begin:.2f}s"
                    )
                if criterion < best - self.tol:
                    best, no_change = criterion, 0
                    if self.early_stopping:
                        best_params = (
                            self._W.copy(),
                            self._visible_bias.copy(),
                            self.intercept_hidden_.copy(),
                        )
                elif self.early_stopping or self.learning_rate_schedule != "linear":
                    no_change += 1
                if no_change >= self.n_iter_no_change:
                    if self.verbose:
                        print(
                            f"[{type(self).__name__}] No improvement of "
                            f"{self.tol} in {self.n_iter_no_change} epochs; "
                            "stopping."
                        )
                    break
            else:
                # the linear schedule ends at max_iter by design (its step is
                # then zero); only a constant step was cut short there
                if self.max_iter > 0 and self.learning_rate_schedule == "constant":
                    warn_caller(
                        f"EnergyClassifier stopped after max_iter={self.max_iter} "
                        "epochs while its "
                        f"{'validation score' if self.early_stopping else 'loss'}"
                        " was still improving; raise max_iter, or set tol or "
                        "n_iter_no_change to stop sooner.",
                        ConvergenceWarning,
                    )
        if best_params is not None:
            self._W[...], self._visible_bias[...] = best_params[:2]
            self.intercept_hidden_[...] = best_params[2]
            self.best_validation_score_ = -best
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass over ``(X, y)`` in batches of ``batch_size``.

        The learning rate is used as given (no schedule); momentum and the
        hidden state of training carry over between calls.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Their labels.
        classes : array-like of shape (n_classes,), default=None
            Every class the model will see. Required on the first call,
            ignored (but checked) afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows (see :meth:`fit`), relative to
            each other within this call.

        Returns
        -------
        self : EnergyClassifier
            The updated model.
        """
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit "
                "(every label the model will ever see)."
            )
        if not first:
            check_fitted_params(self)
        if classes is not None:
            classes = _check_classes(classes)
        if first and len(classes) < 2:
            raise ValueError(
                f"classes needs at least 2 labels; got {classes.tolist()}."
            )
        if (
            not first
            and classes is not None
            and not np.array_equal(classes, self.classes_)
        ):
            raise ValueError(
                f"classes {classes.tolist()} differ from those of "
                f"the first call to partial_fit, {self.classes_.tolist()}."
            )
        dtype = (np.float64, np.float32) if first else self._W.dtype
        X, y = validate_numpy_data(
            self, X, y, accept_sparse="csr", dtype=dtype, reset=first
        )
        check_classification_targets(y)  # the target first, then X's domain
        X = self._check_domain(X)
        if first:
            self.classes_ = classes
        y_idx = self._encode(
            y, " Pass every class in `classes` on the first call to partial_fit."
        )
        raw_w, w = self._check_weights(sample_weight, X)
        if first:
            self._initialize(X, y_idx, check_random_state(self.random_state), raw_w)
            self.validation_scores_ = self.best_validation_score_ = None
        Y = np.eye(len(self.classes_), dtype=X.dtype)[y_idx]
        n = X.shape[0]
        max_batch = int(np.ceil(n / np.ceil(n / self.batch_size)))
        with self._runner(self._rng) as runner:
            trainer = self._trainer(max_batch, runner)
            loss = self._epoch(
                trainer,
                X,
                Y,
                self._learning_rate(),
                self.momentum,
                self._rng,
                weights=w,
            )
            self._check_finite("in partial_fit", trainer, X)
            if self.method == "generative":
                loss = self._nll(
                    X[:N_MONITOR],
                    y_idx[:N_MONITOR],
                    runner,
                    None if w is None else w[:N_MONITOR],
                )
        self.loss_curve_.append(loss)
        self.n_iter_ += 1
        return self

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def _map_scores(self, X, fn, tail=(), dtype=None):
        """``fn(G, S)`` of every row, chunk by chunk (bounded memory), with
        ``G = -F(x, y) / T`` and ``S = G - max_y G`` (n, n_classes); ``S`` is
        exact where ``G`` saturates. Returns (validated X, output). The
        caller has checked the fitted state (:func:`check_fitted_params`)."""
        X = self._validate_X(X, reset=False)
        out = np.empty((X.shape[0], *tail), X.dtype if dtype is None else dtype)
        with self._inference_runner() as runner:
            ConditionalKernel(
                self._params(X.dtype), self.temperature, runner
            ).map_scores(X, fn, out)
        return X, out

    def decision_function(self, X):
        """Negative free energies over the temperature, ``-F(x, y) / T``.

        Their softmax over classes is :meth:`predict_proba`; higher means a
        more probable class. Where ``-F / T`` lies beyond the dtype's range
        (tiny temperatures, huge inputs) it saturates at the largest finite
        value; :meth:`predict_proba` and :meth:`predict` stay exact there.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            For two classes, as scikit-learn's binary classifiers, one
            column: the score of ``classes_[1]`` minus that of
            ``classes_[0]``, whose sigmoid is the probability of
            ``classes_[1]``.
        """
        check_fitted_params(self)
        if len(self.classes_) == 2:
            # the difference of S is exact where G saturates
            return self._map_scores(X, lambda G, S: S[:, 1] - S[:, 0])[1]
        return self._map_scores(X, lambda G, S: G, (len(self.classes_),))[1]

    def predict_proba(self, X):
        """Class probabilities ``p(y | x)``, exact; rows sum to one.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_fitted_params(self)
        return self._map_scores(
            X, lambda G, S: ops.softmax(S, 1.0, axis=1), (len(self.classes_),)
        )[1]

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_fitted_params(self)
        return self._map_scores(
            X, lambda G, S: ops.log_softmax(S, 1.0, axis=1), (len(self.classes_),)
        )[1]

    def predict(self, X):
        """The most probable class of each row (lowest free energy).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_fitted_params(self)
        _, index = self._map_scores(X, lambda G, S: np.argmax(S, axis=1), dtype=np.intp)
        return self.classes_[index]

    def _visible_term(self, X):
        """``-F_0(x) / T = (a.x - [||x||^2 / 2]) / T``: the x-only terms, for
        validated ``X``, in float64."""
        # the product in X's dtype (no float64 copy of X), the rest in
        # float64: over a small T it can exceed float32's range; rows whose
        # product overflows X's dtype are redone in float64
        a = self.intercept_visible_
        with np.errstate(over="ignore", invalid="ignore"):
            term = np.asarray(X @ a.astype(X.dtype), dtype=np.float64).ravel()
        bad = ~np.isfinite(term)
        if bad.any():
            term[bad] = np.asarray(
                X[bad].astype(np.float64) @ a.astype(np.float64)
            ).ravel()
        if self.visible == "gaussian":
            term -= 0.5 * _row_sq_norms(X).astype(np.float64)
        with np.errstate(over="ignore"):
            return term / self.temperature

    def free_energy(self, X):
        """Free energy of each row, the label and the hidden units summed out.

        .. math::

            F(x) = -T \\log \\sum_y e^{-(F_0(x) + F(x, y)) / T},
            \\qquad p(x) = e^{-F(x) / T} / Z

        with ``F_0`` the ``x``-only terms of the joint free energy (see the
        class docstring). Lower means more probable under the model (more
        typical of the training data for a generative or hybrid fit); it is
        ``-T`` times :meth:`score_samples`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        F : ndarray of shape (n_samples,)
        """
        return -self.temperature * self.score_samples(X)

    def score_samples(self, X):
        """Energy score of each row: higher means more typical (in-distribution).

        .. math::

            s(x) = \\log \\sum_y e^{-(F_0(x) + F(x, y)) / T} = -F(x) / T
                 = \\log p(x) + \\log Z

        the negative free energy over the temperature, as in energy-based
        out-of-distribution detection (Liu et al. 2020), with the sign chosen
        so that, like scikit-learn's outlier detectors, inliers score high.
        It includes the ``x``-only terms ``F_0`` (see the class docstring),
        so that it is the model's log-density up to the constant ``log Z``:
        ``s(x) = logsumexp_y(-F(x, y) / T) - F_0(x) / T``, where the first
        term is the log-sum-exp of the class scores of
        :meth:`decision_function` (multiclass). Not normalised: compare
        scores of one model.

        Read cold (``set_params(temperature=t)`` on the fitted model, with
        ``t`` well below the training temperature), ``t s(x)`` tends to
        ``-min_{y, h} E(x, y, h)``: every softplus becomes a ReLU, and the
        score ranks inputs by the energy of their best explanation instead
        of by the total weight of all of them. For out-of-distribution
        detection that ranking can separate better than the density at the
        training temperature; ``benchmarks/bench_energy.py`` measures both.
        The setting documented for that use on binarised MNIST is the hybrid
        model trained briefly with large batches
        (``EnergyClassifier(500, batch_size=100, max_iter=12)``), read at
        ``temperature=0.1``: longer training sharpens the softmax faster than
        the density, and the margin over the maximum softmax probability
        shrinks (the README gives the figures and their spread over seeds).
        That margin is the data's, not a property of the score: trained on
        other classes of the same data it can lose to the maximum softmax
        probability, as a density can rank simple inputs (few pixels on)
        above the training data. Measure both on the data at hand.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        score : ndarray of shape (n_samples,)
        """

        def log_marginal(G, S):
            # logsumexp(G) = max G + logsumexp(S), the max taken where S is 0
            top = G[np.arange(len(G)), np.argmax(S, axis=1)].astype(np.float64)
            return ops.logsumexp(S, 1.0, axis=1).astype(np.float64) + top

        check_fitted_params(self)
        X, s = self._map_scores(X, log_marginal, dtype=np.float64)
        s += self._visible_term(X)
        check_representable(s, self.temperature, "energy score", X.dtype)
        return s.astype(X.dtype, copy=False)

    def transform(self, X):
        """Hidden-unit probabilities given ``x``, the label marginalised.

        .. math::

            E[h_j \\mid x] = \\sum_y p(y \\mid x)\\,
            \\sigma_T(c_j + U_{jy} + W_j x)

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
        """
        check_fitted_params(self)
        X = self._validate_X(X, reset=False)
        with self._inference_runner() as runner:
            return ConditionalKernel(
                self._params(X.dtype), self.temperature, runner
            ).hidden(X)

    def sample(self, n_samples=1, *, y=None, n_steps=1000, random_state=None):
        """Class-conditional samples ``x ~ p(x | y)`` by Gibbs sampling.

        The label units are clamped to ``y``; each chain starts from the
        feature biases alone and runs ``n_steps`` block Gibbs steps at the
        model's temperature. Needs a model with a generative part
        (``method="generative"`` or ``"hybrid"``).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (independent chains).
        y : label or array-like of shape (n_samples,), default=None
            The class of every sample, or of each. ``None`` draws the
            classes from the model's label biases ``softmax(d / T)``.
        n_steps : int, default=1000
            Gibbs steps per chain.
        random_state : int, RandomState instance or None, default=None
            Seed for the chains; ``None`` uses the estimator's
            ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Binary samples for Bernoulli features, real for Gaussian ones.
        y : ndarray of shape (n_samples,)
            Their classes.
        """
        check_fitted_params(self)
        self._check_sample_args(n_samples, n_steps)
        if self.method == "discriminative":
            raise ValueError(
                "sample needs a model with a generative part: a discriminative "
                "fit leaves p(x | y) untrained. Use method='hybrid' or "
                "'generative'."
            )
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        K = len(self.classes_)
        if y is None:
            prior = ops.softmax(
                self.intercept_label_.astype(np.float64), self.temperature
            )
            y_idx = rng.choice(K, size=n_samples, p=prior)
        else:
            y = np.asarray(y)
            y = np.full(n_samples, y) if y.ndim == 0 else y
            if y.shape != (n_samples,):
                raise ValueError(
                    f"y must be one label or {n_samples} labels (n_samples); "
                    f"got shape {y.shape}."
                )
            y_idx = self._encode(y, " sample draws images of the fitted classes.")
        params = self._params()
        clamp = np.eye(K, dtype=params.dtype)[y_idx]
        with self._runner(rng) as runner, np.errstate(over="ignore", invalid="ignore"):
            v0 = base_rate_samples(params, self.temperature, runner, n_samples)
            v = sample_chains(
                params, self.temperature, runner, v0, n_steps, clamp=clamp
            )
        check_representable(v, self.temperature, "sample")
        return v[:, : self.n_features_in_], self.classes_[y_idx]

    def __sklearn_tags__(self):
        return self._boltzmann_tags(super().__sklearn_tags__())
