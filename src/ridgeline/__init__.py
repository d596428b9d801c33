"""ridgeline: machine-learned interatomic potentials."""

__version__ = "0.1.0"


def __getattr__(name):
    # the calculator pulls in ASE and torch: import it only when asked for
    if name == "Calculator":
        from .simulate.calculator import Calculator

        return Calculator
    raise AttributeError(f"module 'ridgeline' has no attribute {name!r}")


__all__ = ["Calculator", "__version__"]
