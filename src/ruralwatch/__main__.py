"""``python -m ruralwatch``: the ``ruralwatch`` command (used where the script is not on PATH)."""

from ruralwatch.cli import main

main()
