"""SQL that turns an export's text into the text the contract validation reads, per column type.

Numbers: `1,234.50`, `¥1,234`, `-$1,234`, `−1,234` (U+2212), `(1,234.00)` and `1,234.00-` (negative,
the last as SAP writes it), `12.5%` (0.125), `12.5万`, `3亿`, `1.2E+05`, `99 €`, full-width digits;
with the mapping's `decimal_comma`, `1.234,50`,
`12,5 %` and `-1.234 €` (the comma and the dot trade places, so `1,5` is 1.5 and `1.500` is 1500;
a number spelt the other way, such as `1.5`, is not read and its row is quarantined).
Dates: `2026-06-01`, `2026/6/1`, `2026.6.1`, `2026年6月1日`, `20260601`, and `06/01/2026` (day or
month first as the mapping's day_first says; not read when it says neither, since 06/01/2026 is
6 January or 1 June and nothing in the value tells), with any time after
them ignored unless it carries an offset. Timestamps: the same dates with `9:30`, `09:30:15.250`,
`9:30 PM`, `下午3:30`, `9时30分`, `T`, and an offset (`Z`, `+08:00`, `+0800`); a value without an
offset is in the mapping's time zone (a date alone is midnight of that day); 13 (10) digits are
Unix epoch milliseconds (seconds), as API exports write them. Result: the warehouse's local time,
the warehouse's convention.

Where a value does not parse, the original text is kept, so that the contract validation
quarantines the row with the value as the export spelled it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster_project.warehouse import TIME_ZONE, literal

_FULL_WIDTH = "０１２３４５６７８９．，－＋：／％（）\u3000\u2212"  # and the minus sign (U+2212)
_HALF_WIDTH = "0123456789.,-+:/%() -"

_NUMBER = (
    r"^(\(?)([-+]?)(?:[¥￥$€£]|RMB|CNY|USD|HKD|EUR|GBP|JPY)?([-+]?)(\d+|\d{1,3}(?:,\d{3})+)(\.\d+)?"
    r"(?:[eE]([-+]?\d+))?(%|万|亿|元)?(?:[¥￥$€£]|RMB|CNY|USD|HKD|EUR|GBP|JPY)?(-?)\)?$"
)
_YMD = r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(.*)$"
_XXY = r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(.*)$"
DAY_OR_MONTH_FIRST = _XXY  # 01/06/2026: which is the month only the mapping's day_first says
_COMPACT = r"^(\d{4})(\d{2})(\d{2})((?:[T\s].*)?)$"
_TIME = (
    r"^(?:[T\s]*(上午|下午)?\s*(\d{1,2})[:时](\d{1,2})分?(?::?(\d{1,2})(?:[.,](\d{1,9}))?秒?)?\s*([AaPp][Mm])?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_EPOCH_MS = r"^\d{12,13}$"
_EPOCH_S = r"^\d{10}$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$"
_ISO_OFFSET = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"

# Macros (per connection, temporary): readable SQL below, and one definition of each pattern.
MACROS = f"""
create or replace temp macro s2s_text(x) as nullif(trim(case when strlen(x) = length(x) then x  -- ASCII only
    else translate(x, {literal(_FULL_WIDTH)}, {literal(_HALF_WIDTH)}) end), '');
create or replace temp macro s2s_number_parts(t) as regexp_extract(replace(replace(t, ' ', ''), chr(160), ''),
    {literal(_NUMBER)}, ['paren', 'sign1', 'sign2', 'int', 'frac', 'exp', 'unit', 'sign3']);
create or replace temp macro s2s_number_value(p) as case when p.int <> '' then
    (case when p.paren = '(' or p.sign1 = '-' or p.sign2 = '-' or p.sign3 = '-' then -1 else 1 end)
    * (case when p.exp = '' then try_cast(replace(p.int, ',', '') || p.frac as decimal(38, 10))
            else try_cast(try_cast(replace(p.int, ',', '') || p.frac || 'e' || p.exp as double) as decimal(38, 10)) end)
    * (case p.unit when '%' then 0.01 when '万' then 10000 when '亿' then 100000000 else 1 end) end;
create or replace temp macro s2s_day_month(p, day_first) as struct_pack(  -- day_first NULL: no month, no day
    y := p.y, m := case when day_first then p.b when not day_first then p.a end,
    d := case when day_first then p.a when not day_first then p.b end, rest := p.rest);
create or replace temp macro s2s_date_parts(t, day_first) as case
    when regexp_full_match(t, {literal(_YMD)}) then
        regexp_extract(t, {literal(_YMD)}, ['y', 'm', 'd', 'rest'])
    when regexp_full_match(t, {literal(_XXY)}) then s2s_day_month(
        regexp_extract(t, {literal(_XXY)}, ['a', 'b', 'y', 'rest']), day_first)
    when regexp_full_match(t, {literal(_COMPACT)}) then
        regexp_extract(t, {literal(_COMPACT)}, ['y', 'm', 'd', 'rest']) end;
create or replace temp macro s2s_time_parts(r) as case when regexp_full_match(coalesce(r, ''), {literal(_TIME)}) then
    regexp_extract(coalesce(r, ''), {literal(_TIME)}, ['cn', 'h', 'mi', 's', 'frac', 'ampm', 'tz']) end;
create or replace temp macro s2s_offset_minutes(tz) as case when tz = 'Z' then 0 when tz <> '' then
    (case when tz[1] = '-' then -1 else 1 end)
    * (tz[2:3]::int * 60 + coalesce(try_cast(nullif(replace(tz[4:], ':', ''), '') as int), 0)) end;
create or replace temp macro s2s_hour(tp) as case when tp.h = '' then 0 else tp.h::int % 12
    + case when upper(tp.ampm) = 'PM' or tp.cn = '下午' then 12
           when tp.ampm = '' and tp.cn = '' then (tp.h::int // 12) * 12 else 0 end end;
create or replace temp macro s2s_wall_time(dp, tp) as try(make_timestamp(
    dp.y::bigint, dp.m::bigint, dp.d::bigint, s2s_hour(tp), coalesce(try_cast(nullif(tp.mi, '') as bigint), 0),
    coalesce(try_cast(nullif(tp.s, '') as double), 0) + coalesce(try_cast('0.' || nullif(tp.frac, '') as double), 0)));
"""


def _from_zone(naive: str, timezone: str) -> str:
    """Wall time in `timezone` -> the warehouse's wall time."""
    if timezone == TIME_ZONE:
        return naive
    return f"timezone({literal(TIME_ZONE)}, timezone({literal(timezone)}, {naive}))"


def _from_instant(instant: str) -> str:
    """A TIMESTAMPTZ -> the warehouse's wall time."""
    return f"timezone({literal(TIME_ZONE)}, {instant})"


# Kinds of a date or timestamp text, told apart once per value (stage `_k`): the fast paths that a
# cast reads, and 0 for the rest, which the regular expressions of s2s_date_parts take apart.
_KINDS = ((1, _ISO_DATE), (2, _ISO_NAIVE), (3, _ISO_OFFSET), (4, _EPOCH_MS), (5, _EPOCH_S))


def _kind(t: str) -> str:
    cases = " ".join(f"when regexp_full_match({t}, {literal(pattern)}) then {kind}" for kind, pattern in _KINDS)
    return f"case when {t} is null then -1 {cases} else 0 end"


def _timestamp(t: str, k: str, p: str, tp: str, timezone: str) -> str:
    """The warehouse's wall time of the normalised text `t`, by its kind `k`, date parts `p` and time
    parts `tp` (column names of the earlier stages); NULL when it does not parse."""
    wall = f"s2s_wall_time({p}, {tp})"
    # wall time minus its offset is UTC; timezone('UTC', naive) reads it as such
    with_offset = _from_instant(f"timezone('UTC', {wall} - to_minutes(s2s_offset_minutes({tp}.tz)))")
    return f"""case {k}
        when 1 then try_cast({t} as timestamp)
        when 2 then {_from_zone(f"try_cast({t} as timestamp)", timezone)}
        when 3 then {_from_instant(f"try_cast({t} as timestamptz)")}
        when 4 then {_explicit(t, "epoch_ms", timezone)}
        when 5 then {_explicit(t, "epoch_s", timezone)}
        else case
            when {tp} is null then null
            when {tp}.tz <> '' then {with_offset}
            when {tp}.h = '' then {wall}
            else {_from_zone(wall, timezone)} end end"""


def _explicit(t: str, fmt: str, timezone: str) -> str:
    """The warehouse's wall time of `t` read with an explicit format."""
    if fmt in ("epoch_ms", "epoch_s"):
        seconds = f"try_cast({t} as double)" + (" / 1000" if fmt == "epoch_ms" else "")
        return _from_instant(f"try(to_timestamp({seconds}))")
    if "%z" in fmt or "%Z" in fmt:
        return _from_instant(f"try_strptime({t}, {literal(fmt)})")
    return _from_zone(f"try_strptime({t}, {literal(fmt)})", timezone)


@dataclass(frozen=True)
class Staged:
    """One column's normalisation in stages over the mapped row, each stage naming its result so
    that the next refers to it (a value is parsed once, and the SQL stays small): `_b<k>` is the
    export's text (after the value map); `stages` are (alias prefix, SQL) in order, e.g. `_t<k>`
    trimmed half-width text, `_k<k>` its kind, `_p<k>` date or number parts, `_tp<k>` time parts;
    `final` gives the text the contract validation reads."""

    stages: tuple[tuple[str, str], ...] = ()
    final: str = ""


_PLAIN_NUMBER = r"^-?\d+(\.\d+)?$"
# Not read without `decimal_comma`, and written as only a decimal comma writes numbers: thousands
# grouped by dots then decimals after a comma (14.878,30), or one or two decimals after a comma (12,5).
_DECIMAL_COMMA_NUMBER = r"^-?(\d{1,3}(\.\d{3})*,\d+|\d+,\d{1,2})$"
# In a whole-number column, 1.300 would be rounded from 1.3; a decimal-comma export means 1300.
_DOT_GROUPED_WHOLE = r"^-?\d{1,3}(\.\d{3})+$"


def staged(
    k: int, column_type: str, timezone: str, day_first: bool | None, fmt: str | None, decimal_comma: bool = False
) -> Staged:
    """The stages normalising column number `k` for a contract column of `column_type`."""
    b, t, kind, p, tp = f"_b{k}", f"_t{k}", f"_k{k}", f"_p{k}", f"_tp{k}"
    column_kind = column_type.lower()
    numeric = column_kind in ("bigint", "double") or column_kind.startswith("decimal")
    if fmt == "text" or not (numeric or column_kind in ("date", "timestamp")):
        return Staged(final=b)
    text = ("_t", f"s2s_text({b})")
    if numeric:  # a plain number goes as it is; the others are taken apart
        # an unread value is kept as written for the validation to quarantine; one written with a
        # decimal comma says which setting would read it
        unread = (
            f"case when regexp_full_match({b}, {literal(_DECIMAL_COMMA_NUMBER)}) "
            f"then {b} || ' (a decimal comma? the mapping would read it with decimal_comma: true)' else {b} end"
        )
        if decimal_comma:  # 1.234,56 -> 1,234.56, then read as any number
            text = ("_t", f"translate(s2s_text({b}), '.,', ',.')")
            # 3.39 would pass the validation as a number: it goes with the reason instead
            unread = (
                f"case when try_cast({b} as double) is null then {b} "
                f"else {b} || ' (a decimal point, but the mapping says decimal_comma: true)' end"
            )
        parts = ("_p", f"case when not regexp_full_match({t}, {literal(_PLAIN_NUMBER)}) then s2s_number_parts({t}) end")
        value = f"coalesce(case when {p} is null then {t} else s2s_number_value({p})::varchar end, {unread})"
        if column_kind == "bigint" and not decimal_comma:
            value = (
                f"case when regexp_full_match({b}, {literal(_DOT_GROUPED_WHOLE)}) "
                f"then {b} || ' (a decimal comma? the mapping would read it with decimal_comma: true)' else {value} end"
            )
        return Staged((text, parts), value)
    if fmt:
        wall = _explicit(t, fmt, timezone)
        value = f"strftime(cast({wall} as date), '%Y-%m-%d')" if column_kind == "date" else _strftime(wall)
        return Staged((text,), f"coalesce({value}, {b})")
    stages = (
        text,
        ("_k", _kind(t)),
        ("_p", f"case when {kind} = 0 then s2s_date_parts({t}, {_sql_bool(day_first)}) end"),
        ("_tp", f"case when {kind} = 0 then s2s_time_parts({p}.rest) end"),
    )
    wall = _timestamp(t, kind, p, tp, timezone)
    if column_kind == "timestamp":
        return Staged(stages, f"coalesce({_strftime(wall)}, {b})")
    # a date is the day as written; only an instant (a time with an offset, epoch milliseconds or
    # seconds) moves it, to the warehouse's day
    day = f"""case when {kind} = 1 then try_cast({t} as date)
        when {kind} in (3, 4, 5) or {tp}.tz <> '' then cast({wall} as date)
        when {kind} = 0 then try(make_date({p}.y::bigint, {p}.m::bigint, {p}.d::bigint)) end"""
    return Staged(stages, f"coalesce(strftime({day}, '%Y-%m-%d'), {b})")


def _sql_bool(value: bool | None) -> str:
    return "null" if value is None else str(value).lower()


def _strftime(wall: str) -> str:
    return f"strftime({wall}, '%Y-%m-%d %H:%M:%S.%f')"
