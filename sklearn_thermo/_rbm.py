"""BoltzmannMachine: a restricted Boltzmann machine at an explicit temperature."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state, gen_even_slices
from sklearn.utils.validation import check_array

from ._boltzmann import N_MONITOR, BaseBoltzmann
from ._core.gibbs import base_rate_samples, sample_chains
from ._core.model import (
    RBMParams,
    hidden_proba,
    pseudo_log_likelihood,
    visible_free_energy,
    visible_mean,
)
from ._core.partition import (
    MAX_EXACT_UNITS,
    log_partition_estimate,
    log_partition_exact,
    tempered_samples,
)
from ._core.tempering import TemperedChains, sample_annealed
from ._core.training import (
    CDTrainer,
    FreshChains,
    PersistentChains,
    TrainState,
    aligned_zeros,
)
from ._progress import progress
from ._sklearn_private import Interval, StrOptions, _fit_context
from ._validation import (
    check_fitted_params,
    check_representable,
    content_key,
    restore_on_error,
    seed_key,
)

#: log_partition(method="auto") enumerates exactly up to 2**_AUTO_EXACT_UNITS states.
_AUTO_EXACT_UNITS = 20
#: width (nats) of the AIS sandwich above which log_partition warns
_WIDE_SANDWICH = 1.0
_CACHE_SIZE = 8  # log Z values kept per estimator (most recent)
#: AIS intermediate distributions of the named schedules, by default
_N_BETAS = 10000
#: Most training rows kept as the AIS chains' jump targets
_N_ANCHORS = 256


def _anchor_rows(X):
    """Evenly spaced rows of X (up to ``_N_ANCHORS``), rounded at 1/2 and
    packed 8 states a byte: where AIS proposes jumps (see
    :func:`_anchor_states`). Evenly spaced, not drawn, so that the
    training's random stream is left as it was."""
    rows = np.unique(np.linspace(0, X.shape[0] - 1, _N_ANCHORS).astype(np.intp))
    sub = X[rows]
    sub = sub.toarray() if sp.issparse(sub) else np.asarray(sub)
    return np.packbits(sub > 0.5, axis=1)


def _crossed_beyond_noise(estimate, lower, diagnostics):
    """Whether the reverse AIS estimate lies below the forward one by more
    than both runs' noise: the forward run's three standard errors
    (``estimate - lower``) and the reverse run's, added in quadrature."""
    crossing = diagnostics.get("crossing")
    if crossing is None:
        return False
    spread = diagnostics["reverse_upper"] - (estimate - crossing)
    return bool(crossing > np.hypot(estimate - lower, spread))


def _check_schedule(schedule, n_betas):
    """``(schedule, n_betas)`` checked: a schedule's name, or its betas as a
    float64 array; ``n_betas`` resolved (``None``: the default, or the
    array's length)."""
    if isinstance(schedule, str):
        if schedule not in ("adaptive", "uniform"):
            raise ValueError(
                "schedule must be 'adaptive', 'uniform' or an array of betas; "
                f"got {schedule!r}."
            )
        n_betas = _N_BETAS if n_betas is None else n_betas
    else:
        schedule = check_array(
            schedule,
            ensure_2d=False,
            dtype=np.float64,
            input_name="schedule",
        )
        if schedule.ndim != 1 or len(schedule) < 2:
            raise ValueError(
                "schedule must be 1-D, the betas (at least 2: the base and the "
                f"target distributions); got shape {schedule.shape}."
            )
        falls = bool(np.any(np.diff(schedule) < 0))
        if schedule[0] != 0 or schedule[-1] != 1 or falls:
            raise ValueError(
                "schedule must rise from 0 to 1 (non-decreasing, its first beta "
                f"0 and its last 1); got {schedule[0]:g} ... {schedule[-1]:g}"
                f"{', decreasing in places' if falls else ''}."
            )
        if n_betas is None:
            n_betas = len(schedule)
        elif n_betas != len(schedule):
            raise ValueError(
                f"n_betas={n_betas!r} but the schedule has {len(schedule)} betas; "
                "leave n_betas at None with an array schedule."
            )
    if not isinstance(n_betas, Integral) or n_betas < 2:
        raise ValueError(
            "n_betas must be an integer >= 2 (the base and the target "
            f"distributions at least; 10000 is typical); got {n_betas!r}."
        )
    return schedule, int(n_betas)


def _anchor_states(packed, n_features, dtype):
    """The distinct states of :func:`_anchor_rows`, in np.unique's
    (lexicographic) order, as ``dtype``: found on the packed rows (most
    significant bit first: the same order), so that the sort compares an
    eighth of the bytes. Done when AIS needs them, not at each fit."""
    _, first = np.unique(packed, axis=0, return_index=True)
    bits = np.unpackbits(packed[first], axis=1, count=n_features)
    return bits.astype(dtype)


class BoltzmannMachine(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseBoltzmann
):
    """Restricted Boltzmann machine with Bernoulli or Gaussian visible units.

    A drop-in for :class:`sklearn.neural_network.BernoulliRBM` (same fitted
    attribute names, same ``transform``), trained by contrastive divergence
    (CD-k) or persistent contrastive divergence (PCD-k) on a vectorised,
    multithreaded core, with momentum, weight decay and the initialisation of
    Hinton's practical guide, at an explicit temperature ``T``.

    The model is a Boltzmann distribution over joint states ``(v, h)``:

    .. math::

        p(v, h) = \\frac{e^{-E(v, h) / T}}{Z}, \\qquad
        E(v, h) = [\\tfrac12 \\lVert v \\rVert^2] - a^\\top v - c^\\top h
                  - h^\\top W v,

    with the bracket only for Gaussian visible units, ``W = components_``,
    ``a = intercept_visible_`` and ``c = intercept_hidden_``. Hidden units are
    binary; ``P(h_j = 1 | v) = sigmoid((c_j + W_j v) / T)``.

    Parameters
    ----------
    n_components : int, default=256
        Number of binary hidden units.
    visible : {"bernoulli", "gaussian"}, default="bernoulli"
        Visible unit type. ``"bernoulli"`` needs X in ``[0, 1]`` (binary data,
        or probabilities such as grey levels scaled to ``[0, 1]``).
        ``"gaussian"`` means Gaussian units of variance ``T`` around
        ``a + W^T h``, for standardised data (e.g. after ``StandardScaler``).
    method : {"cd", "pcd", "pt"}, default="pcd"
        ``"cd"``: chains restarted at the data at each batch (Hinton 2002).
        ``"pcd"``: ``batch_size`` persistent chains carried across updates
        (Tieleman 2008). ``"pt"``: parallel tempering, ``batch_size``
        persistent chains at each of ``n_temperatures`` temperatures, with
        Metropolis swaps between neighbours (Desjardins et al. 2010); the
        gradient uses the chains at the model's temperature. PCD is the
        default because its models have the higher exact held-out likelihood
        where it can be computed (``bench_learning.py``); on large models it
        has the highest forward-AIS figure at equal training time, but its
        sharp models leave the AIS sandwich too wide to rank them
        (``bench_likelihood.py``). PT mixes where PCD's chains get stuck on
        multimodal data, at a higher cost per epoch. The measured figures
        are in ``benchmarks/RESULTS.md``.
    n_gibbs_steps : int, default=1
        Gibbs steps per update (the ``k`` of CD-k / PCD-k).
    learning_rate : float or "auto", default="auto"
        Step size on the log-likelihood gradient, which is averaged over the
        rows of a batch (so it does not depend on ``batch_size``), in the
        units of the model at ``T = 1``: the step on the parameters'
        gradient is ``learning_rate * T^2`` for Bernoulli visible units and
        ``learning_rate * T`` for Gaussian ones (see ``temperature``). ``"auto"``
        (resolved on the data of ``fit`` or the first ``partial_fit``, and
        stored in ``learning_rate_``): for Bernoulli visible units

        .. math::

            \\eta = \\frac{3.2}{1 + \\overline{\\lVert x \\rVert^2}},

        with :math:`\\overline{\\lVert x \\rVert^2}` the (weighted) mean squared
        norm of the rows, so that one step moves a hidden unit's input
        :math:`c_j + W_j v` by about as much whatever the number of pixels
        that are on (0.2 on digits scaled to ``[0, 1]``, 0.03 on binarised
        MNIST: with one fixed value, the features of the larger images are
        over-trained). For Gaussian units 0.025, a step one order of
        magnitude below Bernoulli ones' for the unbounded visible values
        (Hinton 2010, section 13.2). How these defaults were chosen, and
        what they give, is measured by ``benchmarks/bench_features.py``.
    learning_rate_schedule : {"linear", "constant"}, default="linear"
        ``"linear"``: epoch ``e`` of ``fit`` (from 0) uses
        ``learning_rate * (1 - e / max_iter)``, so the last epochs settle the
        parameters instead of leaving them on a noisy step (Tieleman 2008).
        ``"constant"``: ``learning_rate`` throughout. ``partial_fit`` always
        uses ``learning_rate``.
    batch_size : int, default=20
        Rows per update; also the number of persistent chains (per
        temperature for ``"pt"``).
    n_temperatures : int, default=10
        Rungs of the parallel-tempering ladder (``method="pt"`` only).
    max_temperature : float, default=10.0
        Top of the ladder, as a multiple of ``temperature``; the ladder is
        geometric from 1 to it, so it must be > 1 (``method="pt"`` only).
    max_iter : int, default=20
        Number of epochs (passes over the data) of ``fit``.
    momentum : float, default=0.5
        Momentum of the parameter updates after the warm-up. Momentum
        multiplies the effective step by ``1 / (1 - momentum)``; with
        persistent chains, larger values (0.9) over-train the features
        unless the learning rate is lowered to match.
    momentum_warmup : int, default=5
        Epochs at the start of ``fit`` during which the momentum is
        ``min(0.5, momentum)`` (Hinton 2010, section 9), so only a momentum
        above 0.5 is warmed up. ``partial_fit`` uses ``momentum``
        throughout.
    weight_decay : float, default=1e-4
        L2 penalty ``weight_decay / 2 * ||W||^2`` on the weights (not biases).
    temperature : float, default=1.0
        Temperature ``T > 0`` of the model; higher makes every conditional
        softer (``transform`` closer to 0.5, samples more random). Training at
        ``T`` follows the exact log-likelihood gradient at ``T``. With
        Bernoulli visible units the model depends on its parameters over
        ``T`` only; the initial weights and the step scale with ``T`` and
        ``T^2`` (see ``learning_rate``), so that a fit at ``T`` with
        ``weight_decay`` ``lambda`` is the fit at ``T = 1`` with
        ``lambda T^2``, its parameters ``T`` times as large: fitted, ``T``
        acts as a penalty; set on a fitted model, it reads the model hotter or
        colder. Gaussian visible units have variance ``T`` (scale
        ``sqrt(T)``): for standardised data, keep it near 1.
    n_jobs : int, default=None
        Threads of the CD core. Training with ``method="pcd"`` or ``"cd"``
        (without ``sample_weight``) runs many updates per call of one
        compiled kernel, each thread keeping its blocks of hidden units'
        weights in its own cache; otherwise each Gibbs half-step and weight
        update is split into blocks of units that run on these threads, each
        block one product on single-threaded BLAS and one compiled pass of
        activation and sampling. On mostly-zero data (at most a quarter of
        the entries nonzero, as in binarised images) with Bernoulli visible
        units and batches of 80 rows or more, the compiled kernel sums the
        products and the weight step over the nonzero visible entries only
        (the same updates, to rounding). Blocks and layout are set by the
        shapes and the data alone, and BLAS is held at one thread while the
        core runs.
        ``None`` takes ``n_jobs`` from an active
        ``joblib.parallel_config(n_jobs=...)`` context, and otherwise uses all
        cores this process may use (one when it runs inside an outer
        parallel loop such as ``GridSearchCV(n_jobs=-1)``, or fewer under a
        threadpoolctl limit), as scikit-learn's OpenMP-threaded estimators
        (KMeans, HistGradientBoosting) do: a departure from the glossary's
        "``None`` means 1", since the core's threads share one process and
        never oversubscribe it;
        ``-1`` all of those; a positive value that many. On a busy machine, where
        parallel work waits for threads the OS has paused, each kind of step
        uses whichever of these threads or one has been faster lately. The
        annealed importance sampling of :meth:`log_partition` runs blocks of
        chains side by side. Results for a fixed ``random_state`` do not
        depend on ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and every Gibbs sample.
    verbose : int, default=0
        ``1`` prints one line per epoch with the time and a likelihood
        figure: the mean pseudo-log-likelihood of a few hundred training rows
        (Bernoulli) or their mean squared reconstruction error (Gaussian).
        On sharp, multimodal models the pseudo-likelihood can keep rising
        while the likelihood falls; for a small model, :meth:`score` on
        held-out rows is exact.
        ``2`` adds a progress bar over the batches of each epoch (tqdm when
        it is installed, else a plain counter on stderr).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weight matrix ``W``.
    intercept_hidden_ : ndarray of shape (n_components,)
        Hidden biases ``c``.
    intercept_visible_ : ndarray of shape (n_features,)
        Visible biases ``a``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when X has string feature names.
    n_iter_ : int
        Number of epochs run by ``fit``.
    learning_rate_ : float
        The learning rate before the schedule: ``learning_rate``, or the
        value ``"auto"`` resolved to on the first data.
    h_samples_ : ndarray of shape (batch_size, n_components)
        Hidden states of the persistent chains (``method="pcd"`` or
        ``"pt"``).
    swap_acceptance_ : ndarray of shape (n_temperatures - 1,)
        With ``method="pt"``: the fraction of accepted swaps between each pair
        of neighbouring temperatures during the last ``fit`` or
        ``partial_fit``.

    See Also
    --------
    sklearn.neural_network.BernoulliRBM : scikit-learn's Bernoulli RBM (PCD-1).

    Notes
    -----
    Initialisation follows Hinton (2010): weights from ``N(0, 0.01^2)``,
    hidden biases 0, visible biases at the data's marginals,
    ``a_i = T log(p_i / (1 - p_i))`` with the Laplace-smoothed frequency
    ``p_i = (sum_n x_ni + 1) / (n + 2)`` (Bernoulli) or ``a_i = mean_n x_ni``
    (Gaussian).

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
    G. E. Hinton, "A Practical Guide to Training Restricted Boltzmann
    Machines", UTML TR 2010-003.
    T. Tieleman, "Training Restricted Boltzmann Machines using Approximations
    to the Likelihood Gradient", ICML 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_thermo import BoltzmannMachine
    >>> X = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> rbm = BoltzmannMachine(n_components=2, random_state=0).fit(X)
    >>> rbm.transform(X).shape
    (4, 2)
    """

    _parameter_constraints: dict = {
        **BaseBoltzmann._parameter_constraints,
        "method": [StrOptions({"cd", "pcd", "pt"})],
        "n_temperatures": [Interval(Integral, 2, None, closed="left")],
        "max_temperature": [Interval(Real, 1, np.inf, closed="neither")],
        "momentum_warmup": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=256,
        *,
        visible="bernoulli",
        method="pcd",
        n_gibbs_steps=1,
        learning_rate="auto",
        learning_rate_schedule="linear",
        batch_size=20,
        n_temperatures=10,
        max_temperature=10.0,
        max_iter=20,
        momentum=0.5,
        momentum_warmup=5,
        weight_decay=1e-4,
        temperature=1.0,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.visible = visible
        self.method = method
        self.n_gibbs_steps = n_gibbs_steps
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.n_temperatures = n_temperatures
        self.max_temperature = max_temperature
        self.max_iter = max_iter
        self.momentum = momentum
        self.momentum_warmup = momentum_warmup
        self.weight_decay = weight_decay
        self.temperature = temperature
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _params(self, dtype=None):
        """The fitted parameters as an RBMParams (views, not copies)."""
        params = RBMParams(
            self.components_,
            self.intercept_visible_,
            self.intercept_hidden_,
            self.visible,
        )
        return params if dtype is None else params.astype(dtype)

    @property
    def n_iter(self):
        raise AttributeError(
            "BoltzmannMachine has no n_iter (BernoulliRBM's name): the number "
            "of epochs is max_iter."
        )

    @n_iter.setter
    def n_iter(self, value):
        # BernoulliRBM's name: setting it would otherwise be silently ignored
        raise AttributeError(
            "BoltzmannMachine has no n_iter (BernoulliRBM's name): set max_iter "
            f"instead, e.g. set_params(max_iter={value!r})."
        )

    @property
    def h_samples_(self):
        """Hidden states of the persistent chains, (batch_size, n_components).

        For ``method="pcd"``, and for ``"pt"`` the chains at the model's
        temperature (as BernoulliRBM's ``h_samples_``). Not defined for
        ``method="cd"``, whose chains restart at the data.
        """
        chains = getattr(getattr(self, "_train_state", None), "chains", None)
        if chains is None:
            raise AttributeError(
                "h_samples_ is defined for a model fitted with method='pcd' or "
                "'pt' (persistent chains)."
            )
        return chains[: self.batch_size]

    #: "auto" for Gaussian units; Bernoulli ones scale by the data (below)
    _DEFAULT_LEARNING_RATE = {"gaussian": 0.025}
    #: step in units of a hidden input's change: "auto" is this over 1 + mean |x|^2
    _AUTO_STEP = 3.2

    def _auto_learning_rate(self, X, sample_weight=None, column_stats=None):
        if self.visible != "bernoulli":
            return super()._auto_learning_rate(X, sample_weight, column_stats)
        # the gradient of c_j + W_j v grows with |v|^2 (+1 for the bias)
        if sample_weight is None and column_stats is not None:
            mean_sq = float(column_stats.squares.sum(dtype=np.float64)) / X.shape[0]
            return self._AUTO_STEP / (1.0 + mean_sq)
        sq = (
            X.multiply(X).sum(axis=1) if sp.issparse(X) else np.einsum("ij,ij->i", X, X)
        )
        sq = np.asarray(sq, dtype=np.float64).ravel()
        mean_sq = (
            sq.mean()
            if sample_weight is None
            else np.average(sq, weights=np.asarray(sample_weight, np.float64))
        )
        return self._AUTO_STEP / (1.0 + mean_sq)

    def _initialize(self, X, rng, sample_weight=None, column_stats=None):
        n_features = X.shape[1]
        dtype = X.dtype
        # on a cache line: the compiled kernels' vector loads are faster
        self.components_ = self._initial_weights(
            aligned_zeros((self.n_components, n_features), dtype, zeroed=False), rng
        )
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=dtype)
        self.intercept_visible_ = self._initial_visible_bias(
            X, sample_weight, column_stats
        ).astype(dtype)
        # the base-rate model, and states near which the chains try jumps,
        # for annealed importance sampling
        self._base_visible_bias = self.intercept_visible_.copy()
        self._ais_anchors = _anchor_rows(X) if self.visible == "bernoulli" else None
        self._resolve_learning_rate(X, sample_weight, column_stats)
        self._train_state = TrainState.zeros(self._params())
        self._rng = rng
        self._log_z_cache = {}
        self._remember_structure()

    def _monitor(self, X_mon, runner):
        params = self._params()
        if self.visible == "bernoulli":
            value = pseudo_log_likelihood(params, X_mon, self.temperature, runner)
            return "pseudo-likelihood", float(np.mean(value))
        H = hidden_proba(params, X_mon, self.temperature, runner)
        R = visible_mean(params, H, self.temperature, runner)
        if sp.issparse(X_mon):  # at most N_MONITOR rows
            X_mon = X_mon.toarray()
        return "reconstruction error", float(np.mean((X_mon - R) ** 2))

    def _ladder_betas(self):
        """Inverse temperatures of the tempering ladder, from 1 down."""
        return 1.0 / np.geomspace(1.0, self.max_temperature, self.n_temperatures)

    def _tempered_samples(self, params, runner, rng, v0, n_steps):
        """The ``beta = 1`` replicas of parallel tempering started at ``v0``."""
        return tempered_samples(
            params, self.temperature, runner, self._ladder_betas(), v0, n_steps, rng
        )

    def _trainer(self, max_batch, runner):
        if self.method == "pt":
            negative = TemperedChains(self.batch_size, self._ladder_betas())
        elif self.method == "pcd":
            negative = PersistentChains(self.batch_size)
        else:
            negative = FreshChains()
        return CDTrainer(
            self._params(),
            self._train_state,
            negative=negative,
            max_batch=max_batch,
            n_steps=self.n_gibbs_steps,
            temperature=self.temperature,
            runner=runner,
        )

    # ------------------------------------------------------------------
    # fitting
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y=None, sample_weight=None):
        """Fit the model to X by ``max_iter`` epochs of CD-k or PCD-k.

        All or nothing: if the fit does not finish (bad input, divergence,
        ``KeyboardInterrupt``), the estimator is left exactly as it was
        before the call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; in ``[0, 1]`` for Bernoulli visible units.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows: the data's statistics (and the
            initial visible biases) are weighted averages, the model's are
            not. Integer weights act as repeated rows (in expectation: the
            batches are drawn from the rows as they are).

        Returns
        -------
        self : BoltzmannMachine
            The fitted model.
        """
        X, column_stats = self._validate_X(X, reset=True, column_stats=True)
        raw_w, w = self._check_weights(sample_weight, X)
        rng = check_random_state(self.random_state)
        self._initialize(X, rng, raw_w, column_stats)
        n = X.shape[0]
        slices = list(gen_even_slices(n, int(np.ceil(n / self.batch_size))))
        max_batch = max(s.stop - s.start for s in slices)
        # the monitored rows drawn from a stream of their own (not the fit's:
        # a verbose fit is the same fit; not a stride, which aliases with
        # periodic row orders)
        X_mon = (
            X[np.random.RandomState(0).permutation(n)[:N_MONITOR]]
            if self.verbose
            else None
        )
        runner = self._runner(rng)
        begin = time.perf_counter()
        with runner:
            trainer = self._trainer(max_batch, runner)
            for epoch in range(self.max_iter):
                momentum = (
                    min(0.5, self.momentum)
                    if epoch < self.momentum_warmup
                    else self.momentum
                )
                lr = self._learning_rate(epoch)
                order = rng.permutation(n)
                groups = trainer.batch_groups(slices, X)
                bar = progress(
                    groups,
                    total=len(slices),
                    enabled=self.verbose >= 2,
                    desc=f"epoch {epoch + 1}",
                    size=len,
                )
                for i, group in enumerate(bar):
                    # the parameters back in place after the epoch's last run
                    trainer.run(
                        X,
                        order,
                        group,
                        lr,
                        momentum,
                        self.weight_decay,
                        weights=w,
                        sync=i == len(groups) - 1,
                    )
                self._check_finite(f"in epoch {epoch + 1}", trainer, X)
                if self.verbose:
                    name, value = self._monitor(X_mon, runner)
                    print(
                        f"[{type(self).__name__}] Iteration {epoch + 1}, "
                        f"{name} = {value:.3f}, "
                        f"time = {time.perf_counter() - begin:.2f}s"
                    )
        self.n_iter_ = self.max_iter
        if self.method == "pt":
            self.swap_acceptance_ = trainer.negative.acceptance_rates
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def partial_fit(self, X, y=None, sample_weight=None):
        """Make one parameter update from the rows of X.

        The positive statistics are averaged over the rows of X and the
        negative ones over the chains, so the update is correctly scaled
        whatever the number of rows. Persistent chains and momentum carry over
        between calls. The learning rate is used as given (no schedule): with
        ``method="pcd"`` or ``"pt"``, lower it over time (``set_params``)
        so that the persistent chains can settle, as ``fit`` does.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows; in ``[0, 1]`` for Bernoulli visible units.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows (see :meth:`fit`), relative to
            each other within this call.

        Returns
        -------
        self : BoltzmannMachine
            The updated model.
        """
        first = not hasattr(self, "components_")
        if not first:
            check_fitted_params(self)
        dtype = (np.float64, np.float32) if first else self.components_.dtype
        X = self._validate_X(X, reset=first, dtype=dtype)
        raw_w, w = self._check_weights(sample_weight, X)
        if first:
            self._initialize(X, check_random_state(self.random_state), raw_w)
        n = X.shape[0]
        runner = self._runner(self._rng)
        with runner:
            trainer = self._trainer(n, runner)
            trainer.run(
                X,
                np.arange(n),
                [slice(0, n)],
                self._learning_rate(),
                self.momentum,
                self.weight_decay,
                weights=w,
            )
        self._check_finite("in partial_fit", trainer, X)
        if self.method == "pt":
            self.swap_acceptance_ = trainer.negative.acceptance_rates
        return self

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def transform(self, X):
        """Hidden-unit probabilities ``P(h = 1 | v)`` at the temperature.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to transform.

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
            Same dtype as X (float32 or float64).
        """
        check_fitted_params(self)
        X = self._validate_X(X, reset=False)
        with self._inference_runner() as runner:
            return hidden_proba(self._params(X.dtype), X, self.temperature, runner)

    def inverse_transform(self, X):
        """Mean visible units given hidden values, ``E[v | h]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Hidden-unit values (binary states or probabilities).

        Returns
        -------
        V : ndarray of shape (n_samples, n_features)
            ``sigmoid_T(a + h W)`` for Bernoulli units, ``a + h W`` for
            Gaussian ones.
        """
        check_fitted_params(self)
        H = check_array(X, dtype=(np.float64, np.float32))
        if H.shape[1] != self.n_components:
            raise ValueError(
                f"X has {H.shape[1]} columns, but inverse_transform expects "
                f"n_components={self.n_components} hidden values per row."
            )
        with self._inference_runner() as runner:
            return visible_mean(self._params(H.dtype), H, self.temperature, runner)

    def gibbs(self, v):
        """One Gibbs step from ``v``: sample ``h ~ p(h|v)``, then ``v' ~ p(v|h)``.

        Parameters
        ----------
        v : array-like of shape (n_samples, n_features)
            Visible states to start from.

        Returns
        -------
        v_new : ndarray of shape (n_samples, n_features)
            Binary samples for Bernoulli units, real ones for Gaussian units.
        """
        check_fitted_params(self)
        v = self._validate_X(v, reset=False)
        if sp.issparse(v):
            v = v.toarray()
        runner = self._runner(self._rng)
        with runner:
            v = sample_chains(
                self._params(v.dtype), self.temperature, runner, v, n_steps=1
            )
        return check_representable(v, self.temperature, "Gibbs sample")

    def sample(self, n_samples=1, *, method="gibbs", n_steps=1000, random_state=None):
        """Draw visible samples from the model.

        Every chain starts from the biases-only model (independent units at
        the training data's marginals).

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples (independent chains).
        method : {"gibbs", "pt", "annealed"}, default="gibbs"
            ``"gibbs"``: ``n_steps`` block Gibbs steps at the model's
            temperature. ``"pt"``: parallel tempering, ``n_samples`` replicas
            at each temperature of the ladder (``n_temperatures`` rungs up to
            ``max_temperature``) with swaps after every sweep; returns the
            replicas at the model's temperature. ``"annealed"``: Gibbs sweeps
            while cooling geometrically from ``max_temperature`` times the
            temperature down to it, which escapes a single mode's basin.
        n_steps : int, default=1000
            Gibbs sweeps per chain.
        random_state : int, RandomState instance or None, default=None
            Seed for the chains; ``None`` uses the estimator's
            ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_fitted_params(self)
        self._check_sample_args(n_samples, n_steps)
        if method not in ("gibbs", "pt", "annealed"):
            raise ValueError(
                f"method must be 'gibbs', 'pt' or 'annealed'; got {method!r}."
            )
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        params, T = self._params(), self.temperature
        with self._runner(rng) as runner, np.errstate(over="ignore", invalid="ignore"):
            v0 = base_rate_samples(params, T, runner, n_samples)
            if method == "gibbs":
                v = sample_chains(params, T, runner, v0, n_steps)
            elif method == "annealed":
                v = sample_annealed(
                    params, T, runner, v0, n_steps, self.max_temperature
                )
            else:
                v = self._tempered_samples(params, runner, rng, v0, n_steps)
        return check_representable(v, self.temperature, "sample")

    def free_energy(self, X):
        """Free energy of each row, ``F(v) = -T log sum_h exp(-E(v, h) / T)``.

        .. math::

            F(v) = [\\tfrac12 \\lVert v \\rVert^2] - a^\\top v
                   - \\sum_j T \\log\\left(1 + e^{(c_j + W_j v) / T}\\right)

        Sign: lower free energy means more probable,
        ``p(v) = exp(-F(v) / T) / Z``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        F : ndarray of shape (n_samples,)
        """
        check_fitted_params(self)
        X = self._validate_X(X, reset=False)
        with self._inference_runner() as runner, np.errstate(over="ignore"):
            F = visible_free_energy(self._params(X.dtype), X, self.temperature, runner)
        return check_representable(F, self.temperature, "free energy")

    def pseudo_log_likelihood(self, X):
        """Exact pseudo-log-likelihood of each row (Bernoulli units).

        .. math::

            \\operatorname{PL}(v) = \\sum_i \\log P(v_i \\mid v_{-i}), \\qquad
            P(v_i \\mid v_{-i}) = \\sigma\\left(\\frac{F(\\tilde v^{(i)})
            - F(v)}{T}\\right)

        where ``ṽ^(i)`` is ``v`` with unit ``i`` replaced by ``1 - v_i``. Every
        unit is counted, so the value is deterministic (BernoulliRBM
        estimates it from one random unit per row, times ``n_features``). It
        is always ``<= 0``; higher is better. Costs
        ``O(n_samples * n_features * n_components)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        pl : ndarray of shape (n_samples,)
        """
        check_fitted_params(self)
        if self.visible != "bernoulli":
            raise ValueError(
                "pseudo_log_likelihood is defined for visible='bernoulli'; use "
                "free_energy or score_samples for Gaussian visible units."
            )
        X = self._validate_X(X, reset=False)
        with (
            self._inference_runner() as runner,
            np.errstate(over="ignore", divide="ignore", invalid="ignore"),
        ):
            pl = pseudo_log_likelihood(
                self._params(X.dtype), X, self.temperature, runner
            )
        return check_representable(pl, self.temperature, "pseudo-log-likelihood")

    def log_partition(
        self,
        method="auto",
        *,
        n_chains=100,
        n_betas=None,
        schedule=None,
        path="geometric",
        return_bounds=False,
        return_diagnostics=False,
        random_state=None,
    ):
        """Log partition function ``log Z`` of the fitted model at its temperature.

        .. math::

            \\log Z = \\log \\sum_{v, h} e^{-E(v, h) / T}

        (an integral over ``v`` for Gaussian visible units). The result is
        cached, keyed by what it depends on: the parameters' values (an edit
        in place is noticed), the temperature, the method and its settings,
        and the seed's value (an integer, or a RandomState's state). It is
        computed on a snapshot of the parameters, so a concurrent ``fit``
        cannot mix two models into one value.

        Parameters
        ----------
        method : {"auto", "exact", "ais"}, default="auto"
            ``"exact"`` enumerates the smaller layer (the hidden layer for
            Gaussian visible units, whose values are integrated in closed
            form); up to 2**24 states. ``"ais"``: annealed importance sampling
            from the base-rate model fitted to the training data's marginals
            (Neal 2001; Salakhutdinov & Murray 2008). For Bernoulli visible
            units the chains also try, every few betas, a Metropolis-Hastings
            jump to a state near one of up to 256 training rows kept at fit:
            it leaves each annealed distribution invariant, so the estimate
            stays unbiased, and lets chains reach modes that the annealing
            alone misses on sharp models. ``"auto"`` is exact when that
            layer has at most 20 units, else AIS.
        n_chains : int, default=100
            AIS chains (importance samples).
        n_betas : int, default=None
            AIS intermediate distributions, in ``beta`` from 0 to 1 (at
            least 2). ``None``: 10000, or the length of an array
            ``schedule``.
        schedule : {"adaptive", "uniform"}, array-like of shape (n_betas,) \
                or None, default=None
            Where the ``n_betas`` lie. ``None``: ``"adaptive"`` on the
            geometric path, ``"uniform"`` on the moment path (the only
            schedule it takes). An array: the betas themselves, used
            as given (and reversed by the reverse run), non-decreasing from
            0 to 1, such as Salakhutdinov & Murray's schedule, denser near
            ``beta = 1``. ``"uniform"``: evenly spaced.
            ``"adaptive"``: two pilot runs with one beta in ten (at least
            500), evenly spaced (about a fifth more time than the forward
            run at the default ``n_betas``), find the ranges of ``beta``
            where the chains' effective sample size falls. Forward AIS loses
            its chains where a sharp model splits into modes that the Gibbs
            chains can no longer cross, and chains that settle in the wrong
            ones lose their weight; reverse AIS, from the forward pilot's
            resampled last states, loses its chains mostly in its first
            steps down from ``beta = 1``. Most of the betas go to both
            ranges and just ahead of them, the rest evenly; on a smooth
            model, where the effective sample size does not fall, the
            schedule is even. The schedule is fixed
            before the run that uses it (and, reversed, by the reverse run),
            so the estimates keep their direction in expectation. How it
            compares, on models whose exact value is known and on MNIST, is
            measured by ``benchmarks/bench_sandwich.py``.
        path : {"geometric", "moments"}, default="geometric"
            The distributions the chains anneal through. ``"geometric"``:
            the base model's and the model's unnormalised densities mixed
            geometrically, ``W`` and the hidden biases scaled by ``beta``,
            the visible biases mixed linearly (the equations of the user
            guide). ``"moments"`` (Bernoulli visible units): the
            moment-averaging path of Grosse, Maddison & Salakhutdinov (2013),
            through RBMs whose moments ``E[v]``, ``E[h]`` and ``E[h v^T]``
            lie on the straight line between the base model's and the
            model's. On large sharp models the geometric path's middle
            distributions hold nearly empty images, and few chains find
            their way back into the model's dense modes, so that estimates
            differ from seed to seed and narrow intervals can lie below
            ``log Z``; the moment path keeps the pixel density of both ends
            all the way. Its betas are whole steps per segment, at least one
            each (the diagnostics' ``"n_betas"`` is the number used). Its ten
            segments run between anchors fitted first,
            by persistent contrastive divergence on up to 500 chains started
            at samples of the model (training rows kept at fit, moved by
            parallel tempering), with the interpolated moments as the fixed
            positive phase: a fixed number of updates, whatever ``n_betas``.
            Each of its betas costs more than a geometric one (a state's
            pre-activations at both ends of its segment, and no compiled
            kernel), and its chains make no jumps; on large sharp models it
            needs far fewer betas. On sharp models whose modes lie near the
            training rows and that have few visible units (bars and
            stripes), the jumps of the geometric path find modes that this
            path's chains miss by nats, and its interval can then exclude
            ``log Z``: use it for large models such as MNIST's
            (``benchmarks/bench_sandwich.py --path moments`` measures both).
            The anchors decide how good the path is, not the estimates'
            direction: forward AIS along it is below
            ``log Z`` in expectation and reverse AIS above, whatever they are.
        return_bounds : bool, default=False
            Also return ``(lower, upper)``, a stochastic sandwich around
            ``log Z`` (for exact, the value twice). AIS from the base model
            (the estimate) is below ``log Z`` in expectation, by Jensen's
            inequality, and too short an annealing makes it much lower on
            sharp models. The upper end comes from reverse AIS (Grosse,
            Ghahramani & Adams 2015): ``n_chains`` samples of the model
            annealed back to the base model, with the same jumps; it is
            above ``log Z`` in expectation when those samples are the
            model's. They are approximate: the forward chains' last states,
            resampled in proportion to their weights (as a sequential Monte
            Carlo sampler ends), then moved by parallel tempering over the
            estimator's ``n_temperatures`` rungs up to ``max_temperature``
            (a tenth of the forward run's Gibbs sweeps, in all). Parallel
            tempering started afresh can stay in metastable states far from
            the deep modes of large sharp models that the forward chains
            reach, and its upper end is then loose by many nats. The price
            of these starts: the two ends share the forward run's view of
            the model, so a mode that every forward chain misses is missed
            by both, and the width cannot show it. Nor a mode that few of
            them reach: where the Gibbs steps no longer move chains between
            modes (near ``beta = 1`` on large sharp models), the reverse
            chains retrace the forward run's shares of the modes. A narrow
            interval is then a lower limit on the error, not a bound:
            compare several ``random_state``. Each run's mean weight
            estimates ``Z`` without bias, so runs of equal ``n_chains`` pool
            as ``logsumexp(estimates) - log(n_runs)``, a lower bound still.
            ``lower`` is the forward estimate less three standard errors of
            its mean weight (in log space), ``upper`` the reverse one plus
            three of its own, or the forward estimate where that is higher
            (the interval always holds the estimate). The two runs' estimates
            cross (the reverse one below the forward one) by noise when
            they agree closely; by more, when the reverse run's starts
            missed mass that the forward chains found, and its end then
            bounds nothing (``"crossing"`` in the diagnostics says by how
            much); a ``UserWarning`` says so when the reverse estimate lies
            below the forward one by more than both runs' three standard
            errors, added in quadrature.
            On large sharp models that happens at long annealings of a
            hundred chains, whose reverse runs are precise enough to show how
            far their starts are from the model's samples; resampling brings
            the starts closer to those samples as the chains grow in number,
            so raise ``n_chains`` then. The width ``upper - lower`` is the
            diagnostic:
            a ``UserWarning`` says when it exceeds one nat (raise ``n_betas``,
            then ``n_chains``). Costs a little over two forward runs: the
            forward and the reverse run, a tenth of one for the parallel
            tempering and a fifth for the adaptive schedule's two pilots.
        return_diagnostics : bool, default=False
            Also return a dict describing the estimate: ``"method"``
            (``"exact"`` or ``"ais"``) and, for AIS, ``"n_chains"``,
            ``"n_betas"``, ``"schedule"`` (``"given"`` for an array),
            ``"path"``, the
            forward run's
            ``"effective_sample_size"``
            (Kish's ``(sum w)^2 / sum w^2`` of the importance weights,
            between 1 and ``n_chains``) and ``"log_weight_variance"``, and
            with ``return_bounds`` the same two of the reverse run
            (``"reverse_effective_sample_size"``,
            ``"reverse_log_weight_variance"``), the sandwich's
            ``"width"``, ``"crossing"``, the forward estimate less the
            reverse one (above zero: they cross, see ``return_bounds``), and
            ``"reverse_upper"``, the reverse estimate plus three standard
            errors (the upper end, unless that is below the estimate). A
            small effective sample size says that a few chains carry the
            estimate; a large one is no evidence that it is
            right, since chains that all miss the same mode agree (the
            width is what shows that). For Bernoulli units fitted here,
            ``"jump_acceptance"``: the fraction of the forward chains'
            Metropolis-Hastings jumps accepted (near 0 on smooth models,
            where the Gibbs steps mix on their own), and with
            ``return_bounds`` ``"reverse_jump_acceptance"``, the reverse
            chains'. With the adaptive schedule, ``"pilot_effective_sample_size"``
            and ``"reverse_pilot_effective_sample_size"`` (the two pilots', at
            their ends) and ``"dense_betas"``, the range of ``beta`` holding
            the middle half of the betas.
        random_state : int, RandomState instance or None, default=None
            Seed of the AIS chains; ``None`` uses the estimator's.

        Returns
        -------
        log_z : float, or tuple (log_z, lower, upper)
            ``log_z`` is the forward AIS estimate (or the exact value), with
            or without the bounds.
        diagnostics : dict
            With ``return_diagnostics`` only, as the last element of the
            tuple.
        """
        check_fitted_params(self)
        if method not in ("auto", "exact", "ais"):
            raise ValueError(
                f"method must be 'auto', 'exact' or 'ais'; got {method!r}."
            )
        if not isinstance(n_chains, Integral) or n_chains < 1:
            raise ValueError(
                f"n_chains must be a positive integer (AIS needs at least one "
                f"chain; 100 is typical); got {n_chains!r}."
            )
        if path not in ("geometric", "moments"):
            raise ValueError(f"path must be 'geometric' or 'moments'; got {path!r}.")
        if path == "moments" and self.visible != "bernoulli":
            raise ValueError(
                "path='moments' anneals Bernoulli visible units only; this model's "
                f"are {self.visible!r}. Use path='geometric'."
            )
        if schedule is None:
            schedule = "uniform" if path == "moments" else "adaptive"
        elif path == "moments" and not (
            isinstance(schedule, str) and schedule == "uniform"
        ):
            raise ValueError(
                "path='moments' spaces its betas evenly along the path "
                f"(schedule='uniform' or None); got schedule={schedule!r}. The "
                "adaptive schedule and arrays of betas are for path='geometric'."
            )
        schedule, n_betas = _check_schedule(schedule, n_betas)
        params = self._params()
        units = min(params.n_visible, params.n_hidden)
        if self.visible == "gaussian":
            units = params.n_hidden
        if method == "exact" and units > MAX_EXACT_UNITS:
            raise ValueError(
                f"This model is too large for the exact log Z: it would enumerate "
                f"2**{units} states (at most 2**{MAX_EXACT_UNITS}). Use "
                "method='ais' (annealed importance sampling) instead."
            )
        exact = method == "exact" or (method == "auto" and units <= _AUTO_EXACT_UNITS)
        seed = self.random_state if random_state is None else random_state
        # a snapshot: a fit or an in-place edit in another thread cannot
        # change the model under the computation, and the key is its content
        params = RBMParams(
            params.W.copy(),
            params.visible_bias.copy(),
            params.hidden_bias.copy(),
            params.visible,
        )
        base = self._base_visible_bias.copy()
        anchors = getattr(self, "_ais_anchors", None)
        if anchors is not None:
            anchors = _anchor_states(anchors, params.W.shape[1], params.W.dtype)
        how = (
            "exact"
            if exact
            else (
                "ais",
                n_chains,
                n_betas,
                schedule if isinstance(schedule, str) else content_key(schedule),
                path,
                bool(return_bounds),
                seed_key(seed),
            )
        )
        key = content_key(
            params.W,
            params.visible_bias,
            params.hidden_bias,
            base,
            params.visible,
            float(self.temperature),
            how,
            *([] if anchors is None else [anchors]),
        )
        # string keys: persistence formats such as skops want plain keys
        cache = self.__dict__.setdefault("_log_z_cache", {})
        value = cache.get(key)
        if value is None:
            if exact:
                log_z = log_partition_exact(params, self.temperature)
                value = (log_z, log_z, log_z, {"method": "exact"})
            else:
                rng = check_random_state(seed)
                with self._runner(rng) as runner:
                    value = log_partition_estimate(
                        params,
                        self.temperature,
                        base,
                        n_chains=n_chains,
                        n_betas=n_betas,
                        schedule=schedule,
                        runner=runner,
                        rng=rng,
                        anchors=anchors,
                        ladder=self._ladder_betas(),
                        reverse=bool(return_bounds),
                        path=path,
                    )
            if not np.isfinite(value[0]):
                raise ValueError(
                    f"log Z is beyond float64's range at temperature="
                    f"{self.temperature!r}: it scales as 1/T. Use a larger "
                    "temperature."
                )
            if return_bounds and value[2] - value[1] > _WIDE_SANDWICH:
                warnings.warn(
                    f"The AIS bounds on log Z are {value[2] - value[1]:.2f} nats "
                    f"apart ([{value[1]:.2f}, {value[2]:.2f}]): the annealing is too "
                    "short for this model. Raise n_betas (then n_chains) until "
                    "they close.",
                    UserWarning,
                    stacklevel=2,
                )
            if return_bounds and _crossed_beyond_noise(*value[:2], value[3]):
                crossing = value[3]["crossing"]
                warnings.warn(
                    f"The reverse AIS estimate of log Z, "
                    f"{value[0] - crossing:.2f}, lies {crossing:.2f} nats below "
                    f"the forward one, {value[0]:.2f}, beyond both runs' noise: "
                    "its starts, the forward chains' resampled states, are not "
                    "samples of the model, so the upper end is the forward "
                    "estimate itself and bounds nothing. Raise n_chains: the "
                    "resampled starts come closer to the model's samples as the "
                    "chains grow in number (at the same cost, with fewer "
                    "n_betas). Until then read the estimate as one from below, "
                    "and compare it across random_state.",
                    UserWarning,
                    stacklevel=2,
                )
            if how == "exact" or how[-1] is not None:
                if len(cache) >= _CACHE_SIZE:
                    cache.pop(next(iter(cache)))
                cache[key] = value
        result = value[:3] if return_bounds else value[:1]
        if return_diagnostics:
            result = (*result, dict(value[3]))
        return result if len(result) > 1 else result[0]

    def score_samples(self, X):
        """Log-likelihood ``log p(v)`` of each row.

        .. math::

            \\log p(v) = -\\frac{F(v)}{T} - \\log Z

        with ``log Z`` from :meth:`log_partition` (``method="auto"``: exact
        for small models, annealed importance sampling otherwise), computed
        once per fitted model. Higher means more typical. Under AIS this is
        an estimate from above in expectation (forward AIS underestimates
        ``log Z``, by many nats on large sharp models); for an interval,
        subtract the bounds of ``log_partition(return_bounds=True)``. For
        Gaussian visible units a log-density, in nats per row. The pseudo-likelihood is
        :meth:`pseudo_log_likelihood`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_p : ndarray of shape (n_samples,)
        """
        F = self.free_energy(X)
        T = float(self.temperature)
        log_z = self.log_partition()
        with np.errstate(over="ignore", invalid="ignore"):
            s = -F.astype(np.float64) / T - log_z
        check_representable(s, self.temperature, "log-likelihood", F.dtype)
        return s.astype(F.dtype, copy=False)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X (see :meth:`score_samples`).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    def __sklearn_tags__(self):
        return self._boltzmann_tags(super().__sklearn_tags__())
