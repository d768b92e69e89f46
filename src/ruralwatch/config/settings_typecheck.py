"""The settings as tools see them that import settings without serving anything (mypy's Django
plugin, ``[tool.django-stubs]``): the development mode, so no secret has to be present. Never
used to serve; the one declaration of every setting stays ``ruralwatch.config.settings``."""

import os

os.environ.setdefault("RURALWATCH_ENV", "development")

from ruralwatch.config.settings import *  # noqa: F403
