"""What tests/conftest.py promises every test process."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.unit

POOL_VARIABLES = {"openmp": "OMP_NUM_THREADS", "openblas": "OPENBLAS_NUM_THREADS"}


def test_the_thread_pools_of_this_process_have_the_size_the_conftest_set():
    """The OpenMP and OpenBLAS pools are sized when their libraries load: had anything imported
    numpy, SciPy, scikit-learn or LightGBM before tests/conftest.py set the variables, the
    pools would have a thread per core whatever the environment says."""
    import lightgbm  # noqa: F401 - loads its OpenMP runtime
    import numpy  # noqa: F401
    import scipy.sparse  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_info  # scikit-learn's own dependency

    pools = threadpool_info()
    assert {pool["internal_api"] for pool in pools} >= set(POOL_VARIABLES)
    for pool in pools:
        variable = POOL_VARIABLES[pool["internal_api"]]
        assert pool["num_threads"] == int(os.environ[variable]), (variable, pool["filepath"])
