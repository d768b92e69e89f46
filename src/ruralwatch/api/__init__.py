"""The JSON API (django-ninja) with its OpenAPI schema, scoped by jurisdiction.

``api.py`` builds the :class:`ninja.NinjaAPI`; one router module per domain (``areas``,
``reports``, ``signals``, ``assessments``, ``keygroups``, ``auth``) parses a request, calls one
access helper and one selector or service, and serialises with ``schemas``. See ``docs/api.md``.
"""
