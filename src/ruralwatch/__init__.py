"""RuralWatch (乡村守望): rural epidemic prevention and control along five administrative levels."""

__version__ = "0.1.0"
