import numpy as np
import pytest

from ruralwatch.epi.panel import Panel


def test_single_and_stack_round_trip() -> None:
    a = Panel.single([1, 2, np.nan], unit="a")
    b = Panel.single([4, 5, 6], unit="b")
    p = Panel.stack([a, b])
    assert p.units == ("a", "b")
    assert p.counts.shape == (3, 2)
    assert np.isnan(p.counts[2, 0])
    assert p.column(1).counts[:, 0].tolist() == [4, 5, 6]


def test_rejects_mismatched_units() -> None:
    with pytest.raises(ValueError, match="unit codes"):
        Panel(counts=np.zeros((3, 2)), units=("a",))
