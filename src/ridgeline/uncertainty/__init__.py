"""Trust: uncertainty of energies and forces, calibration, domain of applicability, propagation.

- ``UncertaintyModel`` / ``fit_uncertainty``: ensembles (spread) and single models (last-layer
  Laplace), calibrated variance scales, domain models; stored in the model file.
- ``calibration``: variance scale alpha, NLL, ECE, miscalibration area, reliability diagrams.
- ``domain``: nearest training environment (k-d tree), Mahalanobis T^2 with a chi^2 threshold,
  convex hull (linear programme).
- ``confidence_interval``: uncertainty of a derived observable by linearisation.
- ``DomainMonitor``: flag or stop MD when atoms leave the domain.
"""

from .model import DEFAULT_DOMAINS, DOMAINS, UncertaintyModel, UQPredictions, fit_uncertainty
from .monitor import DomainEvent, DomainMonitor, OutOfDomain
from .propagation import Interval, confidence_interval

__all__ = ["UncertaintyModel", "UQPredictions", "fit_uncertainty", "DOMAINS", "DEFAULT_DOMAINS", "DomainMonitor",
           "DomainEvent", "OutOfDomain", "Interval", "confidence_interval"]
