"""The dispatch tests' small tree and users, for the worker's tests."""

from tests.dispatch.conftest import tree, users  # noqa: F401
