"""Block Gibbs sampling: one compiled kernel call per half-step.

Every half-step is one call of :func:`._kernels.half_step`: blocks of units,
set by the shapes alone, each one product on single-threaded BLAS and one
fused pass of bias, activation and counter-based sampling, on the runner's
threads. Results do not depend on the number of threads.
"""

import numpy as np

from . import _kernels
from .threads import work_kind

#: Fewest columns of a block of a half-step, and the most blocks.
_MIN_BLOCK_COLUMNS = 64
_MAX_BLOCKS = 4
#: Least work (multiply-adds) per block: below it a thread costs more than it saves.
_MIN_BLOCK_WORK = 1 << 20
#: Most rows for which the products go through the kernel's scratch, with the
#: rows as BLAS's first dimension: faster for tens of rows, slower for hundreds
#: (with OpenBLAS on AVX2).
_FEW_ROWS = 64


def update_blocks(n_rows, n_hidden, n_visible):
    """Number of blocks of hidden units of a weight step (by shapes alone)."""
    return column_blocks(n_visible, n_hidden, n_rows)


def column_blocks(n_rows, width, depth):
    """Number of column blocks of a half-step over an (n_rows, width) output
    with ``depth`` terms per product: set by the shapes alone (a power of two),
    never by the thread count, so results do not depend on ``n_jobs``."""
    n = min(
        _MAX_BLOCKS,
        width // _MIN_BLOCK_COLUMNS,
        (n_rows * width * (depth + 16)) // _MIN_BLOCK_WORK,
    )
    return 1 << (int(max(1, n)).bit_length() - 1)


class Gibbs:
    """Block Gibbs half-steps over a batch of chains.

    Each half-step is one call of the compiled kernel
    :func:`~._core._kernels.half_step`: blocks of output columns (units), each
    one product on single-threaded BLAS and one fused pass of bias,
    activation and draw, on the runner's threads. Random numbers are
    counter-based, keyed by the runner's call counter, so results are the same
    for any number of threads.

    Parameters
    ----------
    params : RBMParams
    temperature : float
    runner : BlockRunner
        Thread count and the random keys.
    """

    def __init__(self, params, temperature, runner):
        self.params = params
        self.runner = runner
        self.set_temperature(temperature)
        self._scratch = np.empty(0, params.dtype)

    def _products_scratch(self, size):
        """The kernel's scratch for products, grown once to the largest call
        (one Gibbs object serves one thread at a time)."""
        if self._scratch.size < size:
            self._scratch = np.empty(size, self.params.dtype)
        return self._scratch

    def set_temperature(self, temperature):
        """Sample at ``temperature`` from now on."""
        self.T = float(temperature)

    def _step(
        self,
        P,
        bias,
        *,
        X=None,
        transpose,
        unit,
        S=None,
        sample_from=0,
        post_scale=None,
        beta=None,
        pre=None,
        labels=0,
        alpha=1.0,
        products=True,
    ):
        if isinstance(post_scale, tuple):
            first, rest = post_scale
        else:
            first = rest = 1.0 if post_scale is None else post_scale
        if beta is not None:
            beta = np.ascontiguousarray(beta, dtype=P.dtype).reshape(-1)
        depth = 0 if X is None or not products else X.shape[1]
        n_blocks = column_blocks(P.shape[0], P.shape[1], depth)
        self.runner.call(
            work_kind("half_step", n_blocks, P.shape[0], P.shape[1], depth + 16),
            _kernels.half_step,
            P,
            bias,
            X=X,
            M=self.params.W if X is not None else None,
            transpose_m=transpose,
            alpha=alpha,
            products=products,
            gaussian=unit == "gaussian",
            temperature=self.T,
            beta=beta,
            pre=pre,
            S=S,
            sample_from=sample_from,
            scale_first=first,
            scale_rest=rest,
            n_labels=labels,
            key=self.runner.next_key(),
            n_blocks=n_blocks,
            scratch=(
                self._products_scratch(P.size)
                if depth and P.shape[0] <= _FEW_ROWS
                else None
            ),
        )

    def up(
        self,
        v,
        P,
        S=None,
        post_scale=None,
        sample_from=0,
        beta=None,
        pre=None,
        have_products=False,
    ):
        """Hidden given visible: ``P <- P(h=1|v)``; ``S <- h ~ P`` if given.

        Only rows ``sample_from:`` of ``P`` are sampled (into ``S``'s rows).
        ``post_scale`` multiplies ``P`` after sampling: a scalar, or a pair
        ``(first, rest)`` for rows before and from ``sample_from``. ``beta``
        (n, 1) is an inverse temperature per row (parallel tempering, AIS);
        ``pre`` receives the pre-activations ``c + W v``. ``have_products``:
        ``P`` already holds ``v W^T`` (computed by the caller).
        """
        self._step(
            P,
            self.params.hidden_bias,
            X=v,
            transpose=True,
            unit="bernoulli",
            S=S,
            sample_from=sample_from,
            post_scale=post_scale,
            beta=beta,
            pre=pre,
            products=not have_products,
        )

    def down(self, h, P, S=None, beta=None, *, product_scale=1.0, bias=None):
        """Visible given hidden: ``P <- E[v|h]``; ``S <- v ~ p(v|h)`` if given.

        The pre-activations are ``product_scale * h W + bias`` (``bias``
        defaults to the visible biases): AIS scales the product by its
        ``beta`` and mixes the biases of two models.
        """
        self._step(
            P,
            self.params.visible_bias if bias is None else bias,
            X=h,
            transpose=False,
            unit=self.params.visible,
            S=S,
            beta=beta,
            labels=self.params.n_labels,
            alpha=product_scale,
        )

    def base_rate(self, P, S, bias=None):
        """``S <- v`` sampled from the visible biases alone (W ignored)."""
        P.fill(0)
        self._step(
            P,
            self.params.visible_bias if bias is None else bias,
            transpose=False,
            unit=self.params.visible,
            S=S,
            labels=self.params.n_labels,
        )

    def run(self, h, v, Pv, Ph, n_steps):
        """``n_steps`` full steps ``h -> v -> h``; ``h`` holds the hidden state.

        On return ``v`` holds the last visible sample and ``Ph`` the hidden
        probabilities given it; ``h`` a hidden sample from ``Ph``.
        """
        for _ in range(n_steps):
            self.down(h, Pv, v)
            self.up(v, Ph, h)


def sample_chains(params, temperature, runner, v0, n_steps, clamp=None):
    """Run Gibbs chains started at visible states ``v0``; return visible samples.

    ``v0`` of shape (n_chains, n_visible) is not modified. The chain first
    samples ``h ~ P(h | v0)``, then does ``n_steps`` steps ``h -> v -> h``.
    ``clamp`` (n_chains, n_labels): label units held at these values (the
    chains then sample ``p(x | y)``, with ``v0``'s label columns ignored).
    """
    n, V = v0.shape
    H = params.n_hidden
    dtype = params.dtype
    gibbs = Gibbs(params, temperature, runner)
    v = np.array(v0, dtype=dtype, order="C", copy=True)
    h = np.empty((n, H), dtype)
    Ph = np.empty((n, H), dtype)
    Pv = np.empty((n, V), dtype)
    if clamp is None:
        gibbs.up(v, Ph, h)
        gibbs.run(h, v, Pv, Ph, n_steps - 1)
        gibbs.down(h, Pv, v)
        return v
    labels = v[:, -params.n_labels :]
    for _ in range(n_steps):
        labels[...] = clamp
        gibbs.up(v, Ph, h)
        gibbs.down(h, Pv, v)
    labels[...] = clamp
    return v


def base_rate_samples(params, temperature, runner, n):
    """``n`` visible samples from the biases-only model ``p(v) ∝ exp(a.v/T)``."""
    v = np.empty((n, params.n_visible), params.dtype)
    Gibbs(params, temperature, runner).base_rate(np.empty_like(v), v)
    return v
