"""Framework-free numerical core: panels, hierarchies, detection, assessment, simulation.

Nothing in this package imports Django or any other ``ruralwatch`` module (checked by
import-linter); it only ever sees arrays and panels.
"""
