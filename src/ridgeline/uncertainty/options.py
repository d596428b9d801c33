"""What ``fit_uncertainty`` fits, with every default in one place."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..names import DOMAIN_METHODS, FORCE_VARIANCES, LEGACY_FORCE_VARIANCES
from .calibration import CRITERIA


@dataclass(frozen=True)
class UncertaintyOptions:
    """Options of :func:`~ridgeline.uncertainty.model.fit_uncertainty`.

    - ``domains``: domain models fitted on the training frames (``names.DOMAIN_METHODS``);
      ``confidence``: their in-domain confidence (the fraction of in-domain atoms a threshold keeps).
    - ``batch_size``: structures per model pass.
    - ``criterion``: how the variance scales are fitted on the validation frames, ``"area"``
      (the calibration curve) or ``"nll"`` (maximum likelihood).
    - Single models: ``force_variance`` ``"directional"`` or ``"linearised"`` (``force_rank``
      posterior directions; ``laplace.py``); ``force_weight``: weight of the training force
      components in the posterior precision (None: 1 with the linearised variance, 0 otherwise;
      > 0 costs one backward pass per hidden unit and element over the training frames).
    - ``floor``, ``power``, ``tails``: also fit a noise floor, a power of the force variance and a
      Student-t distribution of the force errors (``UncertaintyModel.calibrate``).
    """

    domains: tuple[str, ...] = DOMAIN_METHODS
    confidence: float = 0.99
    batch_size: int = 8
    criterion: str = "area"
    force_variance: str = "directional"
    force_rank: int = 4
    force_weight: float | None = None
    floor: bool = False
    power: bool = False
    tails: bool = False

    def __post_init__(self):
        object.__setattr__(self, "domains", tuple(self.domains))
        unknown = [d for d in self.domains if d not in DOMAIN_METHODS]
        if unknown:
            raise ConfigError(f"unknown domain model(s) {', '.join(map(repr, unknown))}; valid: {', '.join(DOMAIN_METHODS)}")
        if not 0 < self.confidence < 1:
            raise ConfigError(f"confidence must be in (0, 1), got {self.confidence}")
        if int(self.batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.criterion not in CRITERIA:
            raise ConfigError(f"criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")
        if self.force_variance not in FORCE_VARIANCES:
            retired = self.force_variance in LEGACY_FORCE_VARIANCES
            raise ConfigError(f"force_variance must be one of {', '.join(FORCE_VARIANCES)}, got {self.force_variance!r}"
                              + ("; 'proxy' was retired ('directional' ranks and calibrates better at the same cost; "
                                 "files calibrated with it still load)" if retired else ""))
        if int(self.force_rank) < 1:
            raise ConfigError(f"force_rank must be >= 1, got {self.force_rank}")
        if self.force_weight is not None and not float(self.force_weight) >= 0:
            raise ConfigError(f"force_weight must be >= 0, got {self.force_weight}")

    @property
    def posterior_force_weight(self) -> float:
        """``force_weight``, or its default for the force variance."""
        if self.force_weight is not None:
            return float(self.force_weight)
        return 1.0 if self.force_variance == "linearised" else 0.0


__all__ = ["UncertaintyOptions"]
