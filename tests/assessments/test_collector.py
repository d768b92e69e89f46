"""The assessment pauses Python's cyclic garbage collector while it judges (issue 15)."""

from __future__ import annotations

import gc

import pytest

from ruralwatch.assessments.services import _without_cyclic_gc


@pytest.mark.parametrize("enabled", [True, False])
def test_the_assessment_pauses_the_cyclic_collector_and_leaves_it_as_it_was(
    enabled: bool,
) -> None:
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError), _without_cyclic_gc():
            assert not gc.isenabled()
            raise RuntimeError  # left by an error too
        assert gc.isenabled() == enabled
    finally:
        gc.enable()
