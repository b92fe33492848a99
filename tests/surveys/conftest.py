from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_throttle() -> Iterator[None]:
    """Rolled-back tests reuse row ids, so a response's request count must not carry over."""
    cache.clear()
    yield
    cache.clear()
