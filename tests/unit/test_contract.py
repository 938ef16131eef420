import pickle

import pandas as pd
import pytest

from tasks.contract import FEATURE_COLUMNS, check_frame
from tasks.errors import DataContractError
from tasks.settings import get_settings
from tasks.source_issues import KeyedContractError

pytestmark = pytest.mark.unit


def frame(**overrides) -> pd.DataFrame:
    base = {
        "employee_id": [1, 2, 3],
        "feature_month": pd.to_datetime(["2026-01-01"] * 3),
        **{c: [5.0, 6.0, None] for c in FEATURE_COLUMNS if c != "department"},
        "department": ["Sales", "Sales", None],
        "answered": [1.0, 1.0, 0.0],
        "response_rate_6m": [1.0, 0.5, 0.0],
        "label": [0, 1, 0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_valid_frame_is_normalised():
    out = check_frame(frame(work_score=["5", 6, None]), "f", labelled=True)
    assert out["employee_id"].dtype == "int64"
    assert out["work_score"].tolist()[:2] == [5.0, 6.0]
    assert out["label"].dtype == "int8"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"work_score": [5.0, 11.0, None]},
            "f: column work_score has 1 values outside [0, 10] (e.g. employee_id=2, month=2026-01-01)",
        ),
        (
            {"employee_id": [1, 1, 3]},
            "f: 1 duplicate (employee_id, month) keys (e.g. employee_id=1, month=2026-01-01)",
        ),
        ({"employee_id": [1, None, 3]}, "f: column employee_id has 1 NULL values"),
        (
            {"health_score": [5.0, "high", None]},
            "f: column health_score has 1 non-numeric values (e.g. employee_id=2, month=2026-01-01)",
        ),
        ({"label": [0, 2, 0]}, "f: column label has 1 values other than 0/1"),
        ({"response_rate_6m": [1.0, 1.5, 0.0]}, "f: column response_rate_6m has 1 values outside"),
    ],
)
def test_violations_name_column_and_key(overrides, message, monkeypatch):
    """With PULSEWATCH_ERROR_KEYS=show (a laptop) the key is named; by default only the month,
    while the error carries the keys (for source_issues) and pickles without them."""
    with pytest.raises(DataContractError) as hidden:
        check_frame(frame(**overrides), "f", labelled=True)
    text = str(hidden.value)
    assert "employee_id=" not in text and text.startswith(message.split(" (e.g.")[0])
    if "(e.g." in message:
        assert "(month=2026-01-01)" in text
        employee = int(message.split("employee_id=")[1].split(",")[0])
        assert isinstance(hidden.value, KeyedContractError)
        assert [(int(e), pd.Timestamp(m).date().isoformat()) for e, m in hidden.value.keys] == [
            (employee, "2026-01-01")
        ]
        unpickled = pickle.loads(pickle.dumps(hidden.value))  # what Prefect could persist
        assert type(unpickled) is DataContractError and not hasattr(unpickled, "keys")
        assert unpickled.__dict__ == {} and "employee_id=" not in str(unpickled)
    monkeypatch.setenv("PULSEWATCH_ERROR_KEYS", "show")
    get_settings.cache_clear()
    with pytest.raises(DataContractError) as caught:
        check_frame(frame(**overrides), "f", labelled=True)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_missing_columns_are_listed():
    with pytest.raises(DataContractError, match="f: missing column\\(s\\) mean_3m, label"):
        check_frame(frame().drop(columns=["mean_3m", "label"]), "f", labelled=True)


def test_label_not_required_for_scoring():
    assert "label" not in check_frame(frame().drop(columns=["label"]), "f", labelled=False)
