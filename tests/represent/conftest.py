"""Shared fixtures of the representation tests."""

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread: on a loaded 2-core machine more threads are many times slower."""
    try:
        import torch
    except ImportError:  # PCA tests need no torch
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
