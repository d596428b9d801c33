"""Active learning: ask the reference code only where the model is unsure.

``oracles`` (any ASE calculator; xTB, PySCF, EMT built in) label structures in parallel through
any executor (``labelling``); ``explorers`` run MD with the current committee (with ``biases``:
umbrella, adversarial); ``selectors`` pick what to label; ``loop`` runs explore -> select ->
label -> retrain with every step on disk (``store``), resumable. Design: docs/active_learning.md.
"""

from .config import ActiveConfig, load_active_config
from .loop import ActiveLearning
from .oracles import ORACLES, Label, Oracle, OracleError, emt, from_calculator, make_oracle, pyscf_dft, structure_key, xtb
from .labelling import label_structures
from .selectors import SELECTORS, make_selector

__all__ = ["ActiveConfig", "load_active_config", "ActiveLearning", "ORACLES", "Label", "Oracle", "OracleError", "emt",
           "from_calculator", "make_oracle", "pyscf_dft", "structure_key", "xtb", "label_structures", "SELECTORS",
           "make_selector"]
