"""The AIS sandwich on models whose log Z is known, and on MNIST.

1. Sharp, multimodal models with an enumerable visible layer: bars and stripes
   (4 x 4: 30 patterns, 16 visible units; 4 x 5: 46 patterns, 20 units),
   each pattern repeated 10 times, trained by BoltzmannMachine at its defaults
   but for ``n_components``, ``method`` and 200 epochs. For each: the exact
   log Z (enumerating the visible layer), forward AIS at the defaults (100
   chains x 10,000 betas, the adaptive schedule; ``--schedule uniform`` for
   evenly spaced betas) with the effective sample size of its weights, the
   sandwich ``log_partition(return_bounds=True)``, whether it contains the
   exact value, and the time.
2. Where reverse AIS starts, on the same models: the upper end (reverse
   estimate plus three standard errors) less the exact log Z, from parallel
   tempering started at base-rate samples (as many sweeps as the forward
   run; the package's starts until 2026-11-30), from forward AIS's last
   states, from those states resampled by their weights and moved by
   parallel tempering (a tenth of those sweeps, as the package does: the
   package's starts), and from training rows. Every reverse
   run jumps as the package's does; these reverse runs (and the forward run
   that gives their starts) use evenly spaced betas, the same for every
   start. An upper end below zero is no upper
   bound.
3. Schedules of the forward run at the same budget, on the same models: the
   error against the exact log Z of the package's adaptive schedule (its
   default since 2026-11-30, with a reverse pilot since 2026-12-03; the
   pilots' betas come on top), the
   uniform one (the default before), Salakhutdinov & Murray's (2008: 500,
   4,000 and 10,000 betas on [0, 0.5], [0.5, 0.9] and [0.9, 1], here scaled
   to the budget), a geometric one and a sigmoid one.
4. With ``--mnist``: a 784 x 500 PCD model of binarised MNIST t10k (first
   8,000 rows, 10 epochs, defaults otherwise): the sandwich's two ends, its
   width and time, the weights' effective sample sizes, the test
   log-likelihood interval it gives, and the reverse starts of (2) with the
   median free energy of each set of starting states.
5. With ``--mnist --mixing`` (about 6 minutes more): where the MNIST model's
   samplers go. Long Gibbs runs from the forward chains' last states and
   from parallel tempering started at base-rate samples (the package's
   ladder), and parallel tempering over a denser ladder (40 rungs, T from 1
   to 3) started at base-rate samples and restarted from its own samples:
   the median free energy, and the fraction of chains below the midpoint of
   the two start sets' medians.
6. With ``--mnist --seeds 0 1 2``: the MNIST sandwich alone (no other
   section), for each model seed and AIS seed (about a minute each at the
   default budget); ``--ais-seeds`` sets the AIS seeds apart, ``--chains``
   the number of chains (100, the default of ``log_partition``); with
   ``--busy``, two CPU-bound background processes run throughout (as on a
   notebook or a CI runner), in a section of its own.
7. With ``--mnist --seeds 0 --pool``: forward AIS alone (``log_partition``
   without bounds) for each model seed and AIS seed, with its effective
   sample size, and each model's runs pooled: each run's mean weight
   estimates ``Z`` without bias, so ``logsumexp(estimates) - log(n_runs)``
   is the estimate of all their chains together (still from below). Where
   a few runs find chains of large weight that the others miss, the pooled
   estimate lies above the typical run's, and so above the narrow
   sandwiches of the runs that missed them.

With ``--path moments`` every run anneals along the moment-averaging path
(``log_partition(path="moments")``, evenly spaced betas) instead of the
geometric one, in sections of their own; sections 2 and 3 and the reverse
starts of section 4, which compare the geometric path's starts and
schedules, are left out.

    python benchmarks/bench_sandwich.py [--mnist ../shared/datasets/mnist-t10k]
    python benchmarks/bench_sandwich.py --no-jumps   # AIS as before its jumps
    python benchmarks/bench_sandwich.py --mnist FOLDER --seeds 0 1 2
    python benchmarks/bench_sandwich.py --mnist FOLDER --seeds 0 --busy
    python benchmarks/bench_sandwich.py --mnist FOLDER --seeds 0 --pool \
        --ais-seeds 0 1 2 3 4 5 6 7 8 9 10 11 --chains 1000
    python benchmarks/bench_sandwich.py --mnist FOLDER --seeds 0 1 2 \
        --path moments --betas 2000 --chains 1000
"""

import argparse
import contextlib
import time
import warnings

import numpy as np
from _results import busy_machine, recorded
from bench_energy import load_mnist

from sklearn_thermo import BoltzmannMachine
from sklearn_thermo._core import ais
from sklearn_thermo._core.gibbs import base_rate_samples, sample_chains
from sklearn_thermo._core.partition import PT_SHARE
from sklearn_thermo._core.tempering import sample_tempered
from sklearn_thermo._core.threads import BlockRunner, effective_n_threads
from sklearn_thermo._datasets import bars_and_stripes
from sklearn_thermo._rbm import _anchor_states, _crossed_beyond_noise

MODELS = [  # (rows, cols, n_components, method, random_state)
    (4, 4, 64, "pcd", 0),
    (4, 4, 64, "pcd", 1),
    (4, 4, 256, "pcd", 0),
    (4, 4, 256, "pcd", 1),
    (4, 4, 256, "pt", 0),
    (4, 5, 64, "pcd", 0),
    (4, 5, 500, "pcd", 0),
]


#: the schedule and the path of every sandwich (``--schedule``, ``--path``)
SCHEDULE = "adaptive"
PATH = "geometric"


def _annealing():
    """``log_partition``'s path and schedule arguments (the moment path
    spaces its betas evenly: it takes no other schedule)."""
    if PATH == "moments":
        return {"path": PATH, "schedule": None}
    return {"path": PATH, "schedule": SCHEDULE}


def sandwich(rbm, **kw):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # wide: reported below
        est, lo, hi, diag = rbm.log_partition(
            "ais", return_bounds=True, return_diagnostics=True, **_annealing(), **kw
        )
    return est, lo, hi, diag, time.perf_counter() - t


def schedules(n_betas):
    """Increasing betas from 0 to 1, ``n_betas`` of them, by name."""
    n1 = round(n_betas * 500 / 14500)
    n2 = round(n_betas * 4000 / 14500)
    sm = np.concatenate(
        [
            np.linspace(0, 0.5, n1, endpoint=False),
            np.linspace(0.5, 0.9, n2, endpoint=False),
            np.linspace(0.9, 1, n_betas - n1 - n2),
        ]
    )
    sig = 1 / (1 + np.exp(-np.linspace(-6, 6, n_betas)))
    return {
        "uniform": np.linspace(0, 1, n_betas),
        "S&M": sm,
        "geometric": np.concatenate([[0], np.geomspace(1e-3, 1, n_betas - 1)]),
        "sigmoid": (sig - sig[0]) / (sig[-1] - sig[0]),
    }


def _anchors(rbm):
    """The AIS jump targets, as the package's own runs take them."""
    packed = rbm._ais_anchors
    if packed is None:
        return None
    W = rbm.components_
    return _anchor_states(packed, W.shape[1], W.dtype)


def _anneal(rbm, betas, n_chains, seed, v0=None):
    """(log Z estimate, upper end, last states, log weights) of AIS through
    ``betas``: forward from the base model, or reverse from ``v0`` when
    given; both jump, as the package's runs do."""
    params = rbm._params()
    base = rbm._base_visible_bias.astype(params.dtype)
    T = float(rbm.temperature)
    final = np.empty((n_chains, params.n_visible), params.dtype)
    with BlockRunner(effective_n_threads(None), seed) as runner:
        anchors = _anchors(rbm)
        log_w = ais._log_weights(
            params,
            T,
            base,
            betas,
            n_chains,
            runner,
            v0=v0,
            final=final,
            anchors=anchors,
        )
    log_z_A = ais._base_log_partition(base, params.n_hidden, params.visible, T)
    log_r, down, _ = ais._mean_weight(log_w)
    if v0 is None:
        return log_z_A + log_r, None, final, log_w
    return log_z_A - log_r, log_z_A - log_r + down, final, log_w


def reverse_starts(rbm, X, n_betas, n_chains=100):
    """Upper ends of reverse AIS from three kinds of starting states, and the
    median free energy of each kind: {name: (upper, median F)}."""
    params = rbm._params()
    T = float(rbm.temperature)
    _, _, finals, log_w = _anneal(rbm, np.linspace(0, 1, n_betas), n_chains, 1)
    with BlockRunner(effective_n_threads(None), 2) as runner:
        v0 = base_rate_samples(params, T, runner, n_chains)
        # as many sweeps as the forward run (the old starts), and as
        # log_partition moves its starts: a tenth of them
        steps = max(1, n_betas // rbm.n_temperatures)
        pt = rbm._tempered_samples(params, runner, np.random.RandomState(0), v0, steps)
        resampled = ais._resample(finals, log_w, np.random.RandomState(1).rand())
        few = max(1, steps // PT_SHARE)
        package = rbm._tempered_samples(
            params, runner, np.random.RandomState(1), resampled, few
        )
    rows = np.random.default_rng(0).choice(len(X), n_chains, replace=False)
    starts = {
        "PT from base": pt,
        "forward's last": finals,
        "package": package,
        "training rows": np.asarray(X[rows], dtype=params.dtype),
    }
    down = np.linspace(1, 0, n_betas)
    return {
        name: (
            _anneal(rbm, down, n_chains, 3, v0=v)[1],
            float(np.median(rbm.free_energy(v))),
        )
        for name, v in starts.items()
    }


def sharp_models(epochs, n_betas, jumps=True):
    print(
        f"bars and stripes, 10 copies of each pattern, {epochs} epochs; AIS with "
        f"100 chains x {n_betas} betas\n"
    )
    print(
        "  model                    exact   forward (error)    ESS  sandwich          "
        "width  contains  time"
    )
    errors, contained, fitted = [], 0, []
    for rows, cols, H, method, seed in MODELS:
        X = np.tile(bars_and_stripes(rows, cols), (10, 1))
        rbm = BoltzmannMachine(H, method=method, max_iter=epochs, random_state=seed)
        rbm.fit(X)
        if not jumps:  # forward AIS as before its Metropolis-Hastings jumps
            rbm._ais_anchors = None
        exact = rbm.log_partition("exact")
        est, lo, hi, diag, t = sandwich(rbm, n_betas=n_betas, random_state=0)
        ok = lo <= exact <= hi
        contained += ok
        errors.append(est - exact)
        name = f"{rows}x{cols} H={H} {method} rs={seed}"
        fitted.append((name, rbm, X, exact))
        print(
            f"  {name:22s} {exact:7.2f}   {est:7.2f} ({est - exact:+6.2f})  "
            f"{diag['effective_sample_size']:5.1f}  "
            f"[{lo:7.2f}, {hi:7.2f}]  {hi - lo:5.2f}  {str(ok):8s}  {t:5.1f}s",
            flush=True,
        )
    worst = max(abs(e) for e in errors)
    print(
        f"\nsandwich contains the exact value on {contained}/{len(MODELS)} models "
        f"(target: all); forward AIS within 0.5 nats on "
        f"{sum(abs(e) <= 0.5 for e in errors)}/{len(MODELS)} (target: all; worst "
        f"{worst:.2f} nats). ESS: effective sample size of the forward weights "
        "(of 100)."
    )
    return fitted


def compare_reverse_starts(fitted, n_betas):
    print(
        "\nwhere reverse AIS starts: upper end less the exact log Z (below zero: "
        "not an upper bound)\n"
    )
    names = None
    below = {}
    for name, rbm, X, exact in fitted:
        res = reverse_starts(rbm, X, n_betas)
        if names is None:
            names = list(res)
            print(f"  {'model':22s} " + "  ".join(f"{n:>15s}" for n in names))
        for n, (upper, _) in res.items():
            below[n] = below.get(n, 0) + (upper < exact)
        print(
            f"  {name:22s} " + "  ".join(f"{res[n][0] - exact:+15.2f}" for n in names),
            flush=True,
        )
    print(
        "  below the exact value on: "
        + ", ".join(f"{n} {below[n]}/{len(fitted)}" for n in names)
    )


def adaptive(rbm, n_betas, seed=2):
    """The package's adaptive schedule for ``rbm`` (its pilot on ``seed``)."""
    params = rbm._params()
    with BlockRunner(effective_n_threads(None), seed) as runner:
        return ais.adaptive_schedule(
            params,
            float(rbm.temperature),
            rbm._base_visible_bias.astype(params.dtype),
            n_chains=100,
            n_betas=n_betas,
            runner=runner,
            anchors=_anchors(rbm),
        )[0]


def compare_schedules(fitted, n_betas):
    print(
        f"\nforward AIS schedules, 100 chains x {n_betas} betas: error against "
        "the exact log Z\n"
    )
    names = ["adaptive", *schedules(n_betas)]
    print(f"  {'model':22s} " + "  ".join(f"{n:>9s}" for n in names))
    errors = {n: [] for n in names}
    for name, rbm, _, exact in fitted:
        row = []
        sched = {"adaptive": adaptive(rbm, n_betas), **schedules(n_betas)}
        for n, betas in sched.items():
            est = _anneal(rbm, betas, 100, 0)[0]
            errors[n].append(est - exact)
            row.append(est - exact)
        print(f"  {name:22s} " + "  ".join(f"{e:+9.2f}" for e in row), flush=True)
    print(
        f"  {'median |error|':22s} "
        + "  ".join(f"{np.median(np.abs(errors[n])):9.2f}" for n in names)
    )


def mnist(folder, n_betas):
    train, test = load_mnist(folder)[:2]
    t = time.perf_counter()
    rbm = BoltzmannMachine(500, max_iter=10, random_state=0).fit(train)
    print(
        f"\nbinarised MNIST t10k, 784 x 500, PCD, 10 epochs on 8,000 rows "
        f"({time.perf_counter() - t:.0f} s to train)"
    )
    est, lo, hi, diag, t = sandwich(rbm, n_betas=n_betas, random_state=0)
    F = rbm.free_energy(test).astype(np.float64).mean()
    print(
        f"  log Z: forward {est:.2f}, sandwich [{lo:.2f}, {hi:.2f}], width "
        f"{hi - lo:.2f} nats (target <= 2) in {t:.0f} s (target <= 600 s)\n"
        f"  effective sample size of the weights: forward "
        f"{diag['effective_sample_size']:.1f}, reverse "
        f"{diag['reverse_effective_sample_size']:.1f} (of 100); forward less "
        f"reverse estimate {diag['crossing']:+.2f} nats (above zero: the ends "
        "cross)\n"
        f"  test log p(x): between {-F - hi:.2f} and {-F - lo:.2f} nats "
        f"(forward estimate {-F - est:.2f})"
    )
    if PATH != "geometric":
        return rbm
    print("  reverse AIS by start: upper end (median free energy of the starts)")
    for name, (upper, f) in reverse_starts(rbm, train, n_betas).items():
        print(f"    {name:16s} {upper:8.2f}  (F {f:8.1f})", flush=True)
    return rbm


def _mnist_train(folder, what):
    """The training rows of sections 6 and 7, after their heading."""
    print(
        f"\nbinarised MNIST t10k, 784 x 500, PCD, 10 epochs on 8,000 rows; "
        f"{what} for each model seed and AIS seed\n"
    )
    return load_mnist(folder)[0]


def mnist_seeds(folder, n_betas, seeds, ais_seeds=None, n_chains=100):
    """Section 6: the MNIST sandwich for other models and AIS seeds."""
    train = _mnist_train(folder, f"sandwich of {n_chains} chains x {n_betas} betas")
    print(
        "  model seed  AIS seed   forward  reverse (3 s.e.)  sandwich              "
        "width  crossing   time"
    )
    widths, crossed, beyond = [], 0, 0
    for model_seed in seeds:
        rbm = BoltzmannMachine(500, max_iter=10, random_state=model_seed).fit(train)
        for ais_seed in seeds if ais_seeds is None else ais_seeds:
            est, lo, hi, diag, t = sandwich(
                rbm, n_chains=n_chains, n_betas=n_betas, random_state=ais_seed
            )
            widths.append(hi - lo)
            crossed += diag["crossing"] > 0
            beyond += _crossed_beyond_noise(est, lo, diag)  # log_partition warns
            reverse = est - diag["crossing"]
            print(
                f"  {model_seed:10d}  {ais_seed:8d}  {est:8.2f}  {reverse:7.2f} "
                f"({diag['reverse_upper'] - reverse:4.2f})  [{lo:7.2f}, "
                f"{hi:7.2f}]  {hi - lo:6.2f}  {diag['crossing']:+8.2f}  {t:4.0f}s",
                flush=True,
            )
    print(
        f"  width: median {np.median(widths):.2f}, largest {max(widths):.2f} nats "
        f"(target <= 2); within 2 nats on {sum(w <= 2 for w in widths)}/{len(widths)}\n"
        f"  crossing: the forward estimate less the reverse one, above zero on "
        f"{crossed}/{len(widths)} (by noise where the two agree closely; by more, "
        "where the reverse run's starts missed mass the forward chains found);\n"
        f"  beyond both runs' noise (log_partition warns "
        f"that the upper end bounds nothing) on {beyond}/{len(widths)}"
    )


def mnist_pool(folder, n_betas, seeds, ais_seeds=None, n_chains=100):
    """Section 7: forward AIS alone over many AIS seeds, and the runs pooled."""
    train = _mnist_train(folder, f"forward AIS of {n_chains} chains x {n_betas} betas")
    print("  model seed  AIS seed   forward  eff. sample size   time")
    for model_seed in seeds:
        rbm = BoltzmannMachine(500, max_iter=10, random_state=model_seed).fit(train)
        estimates = []
        for ais_seed in seeds if ais_seeds is None else ais_seeds:
            t = time.perf_counter()
            est, diag = rbm.log_partition(
                "ais",
                n_chains=n_chains,
                n_betas=n_betas,
                **_annealing(),
                random_state=ais_seed,
                return_diagnostics=True,
            )
            estimates.append(est)
            print(
                f"  {model_seed:10d}  {ais_seed:8d}  {est:8.2f}  "
                f"{diag['effective_sample_size']:16.1f}  "
                f"{time.perf_counter() - t:4.0f}s",
                flush=True,
            )
        e = np.array(estimates)
        pooled = float(np.logaddexp.reduce(e) - np.log(len(e)))
        print(
            f"  model {model_seed}: {len(e)} runs from {e.min():.2f} to "
            f"{e.max():.2f} (median {np.median(e):.2f}); pooled ({len(e) * n_chains:,} "
            f"chains, an estimate from below still) {pooled:.2f}; runs whose "
            f"estimate is more than 0.3 nats below the pooled one: "
            f"{int(np.sum(e < pooled - 0.3))}/{len(e)}"
        )


def mixing(rbm, n_betas, n_chains=100):
    """Do the samplers leave the states they start in? (section 5)"""
    params = rbm._params()
    finals = _anneal(rbm, np.linspace(0, 1, n_betas), n_chains, 1)[2]
    with BlockRunner(effective_n_threads(None), 5) as runner:
        v0 = base_rate_samples(params, 1.0, runner, n_chains)
        pt = rbm._tempered_samples(params, runner, np.random.RandomState(0), v0, 1000)
        F0, F1 = np.median(rbm.free_energy(finals)), np.median(rbm.free_energy(pt))
        mid = (F0 + F1) / 2

        def report(label, v):
            F = rbm.free_energy(v)
            print(
                f"    {label:44s} median F {np.median(F):8.1f}, below {mid:.0f}: "
                f"{np.mean(F < mid):4.2f}",
                flush=True,
            )

        print(
            f"\n  where the samplers go (F: free energy; forward's last {F0:.1f}, "
            f"parallel tempering from base {F1:.1f})"
        )
        a, b, done = finals, pt, 0
        for n in (1000, 4000):
            a = sample_chains(params, 1.0, runner, a, n)
            b = sample_chains(params, 1.0, runner, b, n)
            done += n
            report(f"{done} Gibbs sweeps from forward's last", a)
            report(f"{done} Gibbs sweeps from PT from base", b)
        ladder = 1 / np.geomspace(1, 3, 40)
        v = v0
        for k in range(3):
            v = sample_tempered(
                params, 1.0, runner, ladder, v, 1000, np.random.default_rng(k)
            )
            report(f"PT, 40 rungs T 1..3, from base: {1000 * (k + 1)} sweeps", v)


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", default=None)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--betas", type=int, default=10000)
    ap.add_argument(
        "--chains", type=int, default=100, help="section 6's number of AIS chains"
    )
    ap.add_argument("--skip-sharp", action="store_true")
    ap.add_argument(
        "--schedule",
        choices=["adaptive", "uniform"],
        default="adaptive",
        help="log_partition's schedule for every sandwich",
    )
    ap.add_argument(
        "--path",
        choices=["geometric", "moments"],
        default="geometric",
        help="log_partition's path for every sandwich (moments: evenly spaced betas)",
    )
    ap.add_argument("--mixing", action="store_true", help="section 5 (with --mnist)")
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="section 6 (with --mnist)"
    )
    ap.add_argument(
        "--ais-seeds",
        type=int,
        nargs="+",
        default=None,
        help="section 6's AIS seeds (default: those of --seeds)",
    )
    ap.add_argument(
        "--no-jumps",
        action="store_true",
        help="the sharp models' AIS without its jumps (for comparison)",
    )
    ap.add_argument(
        "--pool",
        action="store_true",
        help="section 7: forward AIS alone for each AIS seed, and the runs pooled",
    )
    ap.add_argument(
        "--busy",
        action="store_true",
        help="section 6 with two CPU-bound background processes throughout",
    )
    args = ap.parse_args(argv)
    if args.pool and not (args.mnist and args.seeds):
        ap.error("--pool runs section 7 only: give --mnist and --seeds")
    if args.busy and not (args.mnist and args.seeds):
        ap.error("--busy runs section 6 only: give --mnist and --seeds")
    return args


def main(args):
    global SCHEDULE, PATH
    SCHEDULE, PATH = args.schedule, args.path
    print(f"AIS path: {PATH}; schedule: {_annealing()['schedule'] or 'uniform'}")
    if args.mnist and args.seeds:
        if args.busy:
            print("busy machine: two CPU-bound background processes throughout")
        run = mnist_pool if args.pool else mnist_seeds
        with busy_machine(2) if args.busy else contextlib.nullcontext():
            run(args.mnist, args.betas, args.seeds, args.ais_seeds, args.chains)
        return
    if not args.skip_sharp:
        fitted = sharp_models(args.epochs, args.betas, jumps=not args.no_jumps)
        if PATH == "geometric":  # the geometric path's starts and schedules
            compare_reverse_starts(fitted, args.betas)
            compare_schedules(fitted, args.betas)
    if args.mnist:
        rbm = mnist(args.mnist, args.betas)
        if args.mixing:
            mixing(rbm, args.betas)


if __name__ == "__main__":
    args = parse()
    # the MNIST case alone at another budget gets a section of its own
    section = (
        f"bench_sandwich, MNIST seeds {' '.join(map(str, args.seeds))}"
        + (
            f" (AIS seeds {' '.join(map(str, args.ais_seeds))})"
            if args.ais_seeds
            else ""
        )
        + (f" at {args.betas:,} betas" if args.betas != 10000 else "")
        + (f", {args.chains:,} chains" if args.chains != 100 else "")
        if args.seeds
        else f"bench_sandwich, MNIST at {args.betas:,} betas"
        + (", samplers' mixing" if args.mixing else "")
        if args.skip_sharp
        else "bench_sandwich, without the jumps"
        if args.no_jumps
        else "bench_sandwich"
    ) + ("" if args.schedule == "adaptive" else ", uniform schedule")
    section += ", moment path" if args.path == "moments" else ""
    section += ", forward runs pooled" if args.pool else ""
    section += ", busy machine" if args.busy else ""
    with recorded(section):
        main(args)
