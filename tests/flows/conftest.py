import pytest

from tasks.demo_data import DemoSpec, write_demo_data
from tests.conftest import DEMO_END_MONTH

DEFAULT_DEMO = DemoSpec(end_month=DEMO_END_MONTH)  # 2,000 employees x 24 months


@pytest.fixture(autouse=True)
def _prefect(prefect_api):
    """Every flow test talks to the session's temporary Prefect server."""


@pytest.fixture
def demo_warehouse(duck):
    write_demo_data(duck, DEFAULT_DEMO)
    return duck
