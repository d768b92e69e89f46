from __future__ import annotations

from pathlib import Path

import pytest

from ruralwatch.accounts.services import create_user_with_jurisdiction
from tests.dashboard import data


@pytest.fixture
def tree(db: None, tmp_path: Path) -> None:
    data.build_tree(tmp_path)


@pytest.fixture
def user_a(tree: None):
    return create_user_with_jurisdiction("town_a", "pw-town-a-123", data.TOWN_A, "township")


@pytest.fixture
def user_county(tree: None):
    return create_user_with_jurisdiction("county", "pw-county-123", data.COUNTY, "county")
