"""The CD core: Boltzmann machines on plain arrays. Knows nothing of scikit-learn.

Each module holds one part:

- :mod:`.model`: the parameter record and its deterministic conditionals
  (hidden probabilities, visible means, free energies, pseudo-likelihood);
- :mod:`.gibbs`: block Gibbs sampling, one compiled kernel call per half-step;
- :mod:`.training`: the CD trainer, whose negative phase is a strategy
  (fresh chains, persistent chains, parallel tempering);
- :mod:`.tempering`: replica exchange, tempered and annealed sampling;
- :mod:`.conditional`: the classification RBM's exact ``p(y | x)``, its
  gradient, and its (discriminative, generative, hybrid) trainer;
- :mod:`.partition`, :mod:`.ais`: exact and annealed-importance-sampling
  partition functions;
- :mod:`.threads`: thread counts, the BLAS cap, random keys and the runner;
- ``_kernels`` (Cython + OpenMP, with ``_elementwise.h``): the compiled
  half-step and weight-step kernels.
"""
