"""Shared test fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core runner, OpenMP spin-waiting makes tiny models slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
