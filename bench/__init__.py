"""RuralWatch benchmarks, run side by side with the R peers: ``python -m bench``."""

import os

# Benchmarks build throw-away databases: development mode, keys kept under their var/.
os.environ.setdefault("RURALWATCH_ENV", "development")
