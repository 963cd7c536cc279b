"""sklearn-thermo: energy-based and temperature-aware learning for scikit-learn.

The softmax is the Boltzmann distribution ``p(i) = exp(-E_i / T) / Z``; this
package makes the temperature ``T`` explicit in its operators
(:mod:`sklearn_thermo.ops`) and estimators.
"""

from . import calibration, metrics, ops
from ._energy_classifier import EnergyClassifier
from ._rbm import BoltzmannMachine
from ._softmax import TemperedSoftmaxClassifier

__version__ = "0.1.0"

__all__ = [
    "BoltzmannMachine",
    "EnergyClassifier",
    "TemperedSoftmaxClassifier",
    "calibration",
    "metrics",
    "ops",
    "__version__",
]
