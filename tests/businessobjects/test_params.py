from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict
from rest_framework import exceptions

from businessobjects import params


@pytest.mark.parametrize("raw", ["0", "7", "007", "9223372036854775807"])
def test_integer_takes_ascii_digits(raw):
    assert params.parse_integer(raw) == int(raw)


@pytest.mark.parametrize(
    "raw",
    ["²", "¹", "\u0663", "", " 1", "1 ", "+1", "-1", "1_0", "1.0", "9" * 20, "\x00"],
)
def test_integer_refuses_everything_else(raw):
    with pytest.raises(ValidationError):
        params.parse_integer(raw)


def test_integer_bounds():
    with pytest.raises(ValidationError):
        params.parse_integer("0", minimum=1)
    with pytest.raises(ValidationError):
        params.parse_integer("9223372036854775808")


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("TRUE", True), ("1", True), ("Yes", True), ("on", True)]
    + [("false", False), ("0", False), ("NO", False), ("off", False)],
)
def test_boolean(raw, value):
    assert params.parse_boolean(raw) is value


@pytest.mark.parametrize("raw", ["maybe", "²", "", "\x00", "t"])
def test_boolean_refuses(raw):
    with pytest.raises(ValidationError):
        params.parse_boolean(raw)


@pytest.mark.parametrize(
    ("raw", "moment"),
    [
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T12:00:00+02:00", datetime(2025, 1, 31, 10, tzinfo=UTC)),
    ],
)
def test_moment_is_aware_utc(raw, moment):
    assert params.parse_moment(raw) == moment


@pytest.mark.parametrize(
    "raw",
    [
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "2025-13-01",
        "yesterday",
        "2025-01-01\x00",
    ],
)
def test_moment_refuses_what_does_not_exist_in_utc(raw):
    with pytest.raises(ValidationError):
        params.parse_moment(raw)


@pytest.mark.parametrize("raw", ["a\x00b", "\ud800", "x" * 1001])
def test_text_refuses_nul_surrogates_and_overlong(raw):
    with pytest.raises(ValidationError):
        params.parse_text(raw)


def test_param_errors_name_the_parameter():
    query = QueryDict("after=%C2%B2&flag=maybe&since=x&q=%00")
    for read, name in [
        (params.integer_param, "after"),
        (params.boolean_param, "flag"),
        (params.moment_param, "since"),
        (params.text_param, "q"),
    ]:
        with pytest.raises(exceptions.ValidationError) as caught:
            read(query, name)
        assert list(caught.value.detail) == [name]


def test_absent_or_empty_parameter_is_the_default():
    query = QueryDict("after=")
    assert params.integer_param(query, "after", 5) == 5
    assert params.integer_param(query, "missing", 5) == 5


def test_collect_gathers_errors():
    errors: dict = {}
    query = QueryDict("a=x&b=2")
    assert params.collect(errors, params.integer_param, query, "a") is None
    assert params.collect(errors, params.integer_param, query, "b") == 2
    assert list(errors) == ["a"]


@pytest.mark.parametrize(("raw", "ok"), [("12", True), (12, True), ("²", False)])
def test_is_id(raw, ok):
    assert params.is_id(raw) is ok
