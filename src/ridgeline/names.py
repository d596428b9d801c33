"""The names that the command line, the configuration and the library share, defined once and
without importing torch, so that parsing a command line or a config stays cheap.

Label keys: where data files keep each reference quantity (extxyz ``info``/``arrays``, an ASE
database row). ``REF_`` names keep clear of the ``energy``/``forces``/``stress`` that ASE moves
into a calculator on read (MACE's ``default_keys``).
"""

# ------------------------------------------------------------------------- labels in data files
ENERGY_KEY = "REF_energy"  # eV, per structure
FORCES_KEY = "REF_forces"  # eV/Å, per atom
STRESS_KEY = "REF_stress"  # eV/Å^3, ASE sign, Voigt (6) or full (3, 3)
CONFIG_TYPE_KEY = "config_type"  # groups frames in reports and stratified splits
DEFAULT_LABEL_KEYS = {"energy": ENERGY_KEY, "forces": FORCES_KEY, "stress": STRESS_KEY, "config_type": CONFIG_TYPE_KEY}

# ------------------------------------------------------------------------ choices by name
SPLITS = ("random", "block", "stratified")  # how validation frames are held out
DOMAIN_METHODS = ("nearest", "mahalanobis", "hull")  # domain-of-applicability models
DEFAULT_DOMAINS = ("mahalanobis",)  # cheap enough for every MD step; the others are asked for by name
FORCE_VARIANCES = ("directional", "linearised")  # single-model force variances offered for new posteriors
LEGACY_FORCE_VARIANCES = ("proxy",)  # still computed for model files calibrated with them

# ------------------------------------------------------------------------ files a run writes
MODEL_FILE = "model.safetensors"  # a training run's (or an active-learning run's) kept model
CHECKPOINT_FILE = "checkpoint.pt"  # a training run's resumable state, written after every epoch
ENSEMBLE_FILE = "ensemble.safetensors"  # a committee's members in one file
METRICS_FILE = "metrics.csv"  # one row per epoch
RUN_CONFIG_FILE = "config.yaml"  # the resolved configuration a run was started with
AL_STATE_FILE = "summary.json"  # an active-learning run's iterations and stop reason
AL_RESUMES_FILE = "resumes.jsonl"  # the config changes each resume of an active-learning run made
AL_VALIDATION_FILE = "validation.extxyz"  # an active-learning run's oracle-MD validation frames
UQ_SUFFIX = ".uq.safetensors"  # `ridgeline uq calibrate`'s default output beside the model
