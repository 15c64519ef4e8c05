"""Shared test set-up: every test run keeps generated datasets in its own cache."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_dataset_cache(tmp_path_factory):
    """Point hipaa-lab's dataset cache (and the notebooks' kernels, which inherit it) at a tmp folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HIPAA_LAB_CACHE", str(tmp_path_factory.mktemp("hipaa-lab-cache")))
    yield
    mp.undo()
