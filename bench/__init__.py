"""RuralWatch benchmarks, run side by side with the R peers: ``python -m bench``."""
