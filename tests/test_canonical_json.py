"""atomic.canonical_json: the bytes of json.dumps(sort_keys, indent=2, ensure_ascii=False, allow_nan=False),
by a faster walk for plain JSON data (a 300k-tensor report is 100 MB), json's own for anything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openscore import atomic

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_keys = st.text() | st.integers() | st.floats() | st.booleans() | st.none()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner, max_size=4)
    | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=30,
)


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@settings(max_examples=300, deadline=None)
@given(_values)
def test_canonical_json_is_json_dumps_byte_for_byte_or_fails_as_it_does(obj):
    try:
        expected = _json(obj)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            atomic.canonical_json(obj)
    else:
        assert atomic.canonical_json(obj) == expected


class _Str(str):
    pass


@pytest.mark.parametrize("obj", [
    {"a": _Str("x")}, {"t": (1, 2)}, {1: "int key"}, {"f": float("nan")}, {"deep": [[[]], {}, [{}]]},
    {"u": "é\u2028\x00\"\\"}, [True, False, None, 1.0, -0.0, 1e16, 10**30], "top", 3,
])
def test_unusual_values_give_the_same_bytes_or_error(obj):
    try:
        expected = _json(obj)
    except ValueError:
        with pytest.raises(ValueError):
            atomic.canonical_json(obj)
    else:
        assert atomic.canonical_json(obj) == expected


def test_a_report_is_encoded_without_json_s_python_encoder(monkeypatch):
    """The fast walk handles what model_dump(mode="json") gives: json.dumps is not called (it is the slow part)."""
    from openscore.audit import audit

    doc = audit("sample:tiny-llama").model_dump(mode="json")
    expected = _json(doc)
    monkeypatch.setattr(atomic.json, "dumps", lambda *a, **k: pytest.fail("fell back to json.dumps"))
    assert atomic.canonical_json(doc) == expected
