"""The formats a mapping recognises: each value worked out by hand (Asia/Shanghai is UTC+8, New York
UTC-5 in January). A value that does not parse comes back as written, for validation to quarantine."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest

from dagster_project.mapping.formats import MACROS, staged


def normalise(
    value: str,
    column_type: str,
    timezone: str = "Asia/Shanghai",
    day_first: bool | None = False,
    fmt=None,
    decimal_comma: bool = False,
):
    """The text the contract validation would read for `value`, through the same staged SQL as a load."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Shanghai'")
    con.execute(MACROS)
    plan = staged(0, column_type, timezone, day_first, fmt, decimal_comma=decimal_comma)
    sql = "select ?::varchar as _b0"
    for alias, expr in plan.stages:
        sql = f"select *, {expr} as {alias}0 from ({sql})"
    return con.execute(f"select {plan.final} from ({sql})", [value]).fetchall()[0][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50", Decimal("1234.50")),
        ("¥1,234", Decimal("1234")),
        ("￥1,234,500.00", Decimal("1234500")),
        ("-$1,234.5", Decimal("-1234.5")),
        ("(1,234.00)", Decimal("-1234")),
        ("12.5%", Decimal("0.125")),
        ("12.5万", Decimal("125000")),
        ("3亿", Decimal("300000000")),
        ("１２３．４", Decimal("123.4")),
        ("1.2E+05", Decimal("120000")),
        ("1,234元", Decimal("1234")),
        ("CNY 88", Decimal("88")),
        ("  42 ", Decimal("42")),
        ("1234 €", Decimal("1234")),
        ("99.5 EUR", Decimal("99.5")),
        ("1,234.00-", Decimal("-1234")),  # SAP's trailing minus
        ("12-", Decimal("-12")),
        ("\u22121,234.5", Decimal("-1234.5")),  # the minus sign U+2212
    ],
)
def test_numbers(text, expected):
    assert Decimal(normalise(text, "decimal(18,2)")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56", Decimal("1234.56")),
        ("1234,56", Decimal("1234.56")),
        ("12,5", Decimal("12.5")),
        ("1.500", Decimal("1500")),
        ("1.234.567,8", Decimal("1234567.8")),
        ("-1.234 €", Decimal("-1234")),
        ("€ 1.234,50", Decimal("1234.5")),
        ("(1.234,00)", Decimal("-1234")),
        ("12,5 %", Decimal("0.125")),
        ("1\u00a0234,5", Decimal("1234.5")),  # a no-break space groups thousands (French)
        ("1.234,56-", Decimal("-1234.56")),  # SAP in a German locale
        ("42", Decimal("42")),
    ],
)
def test_numbers_with_a_decimal_comma(text, expected):
    """`decimal_comma: true`: the comma marks the decimals and a dot (or a space) groups thousands."""
    assert Decimal(normalise(text, "decimal(18,2)", decimal_comma=True)) == expected


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("1.5", "1.5 (a decimal point, but the mapping says decimal_comma: true)"),
        ("-0.25", "-0.25 (a decimal point, but the mapping says decimal_comma: true)"),
        ("1,234.56", "1,234.56"),
        ("12,3x", "12,3x"),
    ],
)
def test_a_number_spelt_with_a_decimal_point_in_a_decimal_comma_export_is_not_read(text, kept):
    """1.5 in an export whose numbers are 1.234,56 is no number of that export: it is kept as written
    for the validation to quarantine, and one that would pass as a number says why it is not one."""
    assert normalise(text, "double", decimal_comma=True) == kept


@pytest.mark.parametrize("text", ["12,3x", "8,80O.00", "1,23,4", "abc", "1.2.3,4"])
def test_a_number_that_does_not_parse_is_kept_as_written(text):
    assert normalise(text, "double") == text


@pytest.mark.parametrize("text", ["1.234,50", "14.878,30", "12,5", "-1234,56", "1.234.567,8"])
def test_a_number_with_a_decimal_comma_in_an_export_without_the_setting_names_the_setting(text):
    """Without `decimal_comma`, 1.234,50 is no number; the validation quarantines it with the value as
    written, followed by the setting that would read it."""
    assert (
        normalise(text, "decimal(18,2)")
        == f"{text} (a decimal comma? the mapping would read it with decimal_comma: true)"
    )


@pytest.mark.parametrize(
    ("text", "column_type", "expected"),
    [
        ("1.300", "bigint", "1.300 (a decimal comma? the mapping would read it with decimal_comma: true)"),
        ("12.000.000", "bigint", "12.000.000 (a decimal comma? the mapping would read it with decimal_comma: true)"),
        ("1.300", "double", "1.300"),  # a decimal, as written
        ("1300", "bigint", "1300"),
    ],
)
def test_a_dot_grouped_whole_number_is_named_as_a_decimal_comma_only_where_the_column_is_whole(
    text, column_type, expected
):
    """1.300 in a whole-number column would be 1.3 rounded; a decimal-comma export means 1300."""
    assert normalise(text, column_type) == expected


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2026-06-01", False, date(2026, 6, 1)),
        ("2026/6/1", False, date(2026, 6, 1)),
        ("2026.6.1", False, date(2026, 6, 1)),
        ("2026年6月1日", False, date(2026, 6, 1)),
        ("20260601", False, date(2026, 6, 1)),
        ("06/01/2026", False, date(2026, 6, 1)),  # month first, as US exports write it
        ("06/01/2026", True, date(2026, 1, 6)),
        ("2026/6/1 23:30", False, date(2026, 6, 1)),  # a time without offset does not move the day
        ("2026-05-31T16:00:00.000Z", False, date(2026, 6, 1)),  # with an offset: the Shanghai day
        ("1780243200000", False, date(2026, 6, 1)),  # epoch ms of 2026-05-31 16:00 UTC: the Shanghai day
        ("1780243199", False, date(2026, 5, 31)),  # epoch seconds, one second before it
        ("２０２６年６月１日", False, date(2026, 6, 1)),
    ],
)
def test_dates(text, day_first, expected):
    assert date.fromisoformat(normalise(text, "date", timezone="UTC", day_first=day_first)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06/01/2026", "06/01/2026"),  # 6 January or 1 June: kept as written, for validation to say why
        ("13/01/2026 9:30", "13/01/2026 9:30"),  # even where only one reading is a date
        ("06.01.2026", "06.01.2026"),
        ("2026/6/1", "2026-06-01"),  # year first: no doubt
        ("2026-06-01", "2026-06-01"),
    ],
)
def test_a_mapping_that_does_not_say_day_first_reads_no_day_month_year_date(text, expected):
    assert normalise(text, "date", day_first=None) == expected
    if "/20" in text or ".20" in text:  # day and month before the year: no timestamp either
        assert normalise(text, "timestamp", day_first=None) == text


@pytest.mark.parametrize("text", ["2026-02-30", "2026/13/1", "soon"])
def test_a_date_that_does_not_parse_is_kept_as_written(text):
    assert normalise(text, "date") == text


def test_an_explicit_date_format():
    assert normalise("01.06.2026", "date", fmt="%d.%m.%Y") == "2026-06-01"


@pytest.mark.parametrize(
    ("text", "timezone", "expected"),
    [
        ("2026/6/1 9:30", "Asia/Shanghai", datetime(2026, 6, 1, 9, 30)),
        ("2026年6月1日 9时30分", "Asia/Shanghai", datetime(2026, 6, 1, 9, 30)),
        ("2026年6月1日 9时30分15秒", "Asia/Shanghai", datetime(2026, 6, 1, 9, 30, 15)),
        ("2026-06-01 下午3:15", "Asia/Shanghai", datetime(2026, 6, 1, 15, 15)),
        ("6/1/2026 9:30 PM", "Asia/Shanghai", datetime(2026, 6, 1, 21, 30)),
        ("6/1/2026 12:05 AM", "Asia/Shanghai", datetime(2026, 6, 1, 0, 5)),
        ("2026-06-01 09:30:15.250", "Asia/Shanghai", datetime(2026, 6, 1, 9, 30, 15, 250000)),
        ("2026-06-01T01:30:00.000Z", "Asia/Shanghai", datetime(2026, 6, 1, 9, 30)),
        ("2026-06-01 01:30:00+0000", "Asia/Shanghai", datetime(2026, 6, 1, 9, 30)),
        ("2026/6/1 1:30 +00:00", "Asia/Shanghai", datetime(2026, 6, 1, 9, 30)),
        ("2026-06-01 01:30:00", "UTC", datetime(2026, 6, 1, 9, 30)),
        ("2026-01-15 08:00", "America/New_York", datetime(2026, 1, 15, 21, 0)),
        ("2026-06-01", "UTC", datetime(2026, 6, 1, 0, 0)),  # a date alone: midnight of that day
        ("1779674400000", "UTC", datetime(2026, 5, 25, 10, 0)),  # epoch milliseconds
        ("1779674400", "UTC", datetime(2026, 5, 25, 10, 0)),  # epoch seconds
    ],
)
def test_timestamps_end_in_shanghai_wall_time(text, timezone, expected):
    assert datetime.fromisoformat(normalise(text, "timestamp", timezone=timezone)) == expected


@pytest.mark.parametrize("text", ["2026-13-01 10:00", "2026/6/1 25:99", "yesterday"])
def test_a_timestamp_that_does_not_parse_is_kept_as_written(text):
    assert normalise(text, "timestamp") == text


def test_text_and_booleans_are_left_to_the_contract_validation():
    assert normalise(" 是 ", "boolean") == " 是 "
    assert normalise("2026/6/1", "varchar") == "2026/6/1"
    assert normalise("1,234", "bigint", fmt="text") == "1,234"
