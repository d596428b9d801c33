"""Trust: uncertainty of energies and forces, calibration, domain of applicability, propagation.

- ``Variances`` (``variances.py``): the one protocol of an uncertainty method, answered by an
  ensemble's spread (``CommitteeVariances``) and a single model's last-layer Laplace posterior
  (``LaplaceVariances``).
- ``UncertaintyModel`` / ``fit_uncertainty`` (``UncertaintyOptions``): variances, calibrated
  variance scales and domain models of a model file, stored in it.
- ``calibration``: variance scale alpha, NLL, ECE, miscalibration area, reliability diagrams,
  interval half-widths.
- ``domain``: nearest training environment (k-d tree), Mahalanobis T^2 with an empirical
  (conformal) threshold, convex hull (linear programme).
- ``confidence_interval``: uncertainty of a derived observable by linearisation.
- ``DomainMonitor``: flag or stop MD when atoms leave the domain.
"""

from .committee import CommitteeVariances
from .laplace import LaplaceVariances
from .model import DEFAULT_DOMAINS, DOMAINS, UncertaintyModel, UQPredictions, fit_uncertainty, variances_for
from .monitor import DomainEvent, DomainMonitor, OutOfDomain
from .options import UncertaintyOptions
from .propagation import Interval, confidence_interval
from .variances import Variances

__all__ = ["UncertaintyModel", "UQPredictions", "UncertaintyOptions", "fit_uncertainty", "Variances", "CommitteeVariances",
           "LaplaceVariances", "variances_for", "DOMAINS", "DEFAULT_DOMAINS", "DomainMonitor", "DomainEvent", "OutOfDomain",
           "Interval", "confidence_interval"]
