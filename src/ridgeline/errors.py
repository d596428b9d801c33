"""Errors that reach a user as one clear message (the CLI prints them without a traceback)."""


class RidgelineError(Exception):
    """Base class of every error ridgeline raises on purpose."""


class DataError(RidgelineError, ValueError):
    """A data file, frame or key is wrong; the message names the file, the frame and the problem."""


class ModelFileError(RidgelineError, ValueError):
    """A model or checkpoint file is missing, corrupted, truncated or incompatible."""


class ConfigError(RidgelineError, ValueError):
    """A configuration key or value is wrong; the message lists the valid keys."""


class UnknownElementError(RidgelineError, ValueError):
    """A structure has an element the model was not trained on."""


class OracleError(RidgelineError):
    """An active-learning oracle cannot be built, or its calculation gave no usable label."""


class ExportError(RidgelineError):
    """A model cannot be exported for an engine, or the exported program disagrees with it."""


class RelaxationError(RidgelineError):
    """A relaxation reached a structure whose energy or forces are meaningless (the step is named)."""
