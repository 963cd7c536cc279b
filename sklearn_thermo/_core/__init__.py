"""The CD core: Boltzmann-machine models, Gibbs sampling, training and
partition functions on plain arrays. Knows nothing of scikit-learn."""
