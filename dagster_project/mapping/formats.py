"""SQL that turns an export's text into the text the contract validation reads, per column type.

Numbers: `1,234.50`, `¥1,234`, `-$1,234`, `(1,234.00)` (negative), `12.5%` (0.125), `12.5万`,
`3亿`, `1.2E+05`, full-width digits. Dates: `2026-06-01`, `2026/6/1`, `2026.6.1`, `2026年6月1日`,
`20260601`, and `06/01/2026` (month first unless the mapping says day_first), with any time after
them ignored unless it carries an offset. Timestamps: the same dates with `9:30`, `09:30:15.250`,
`9:30 PM`, `下午3:30`, `9时30分`, `T`, and an offset (`Z`, `+08:00`, `+0800`); a value without an
offset is in the mapping's time zone. Result: Asia/Shanghai local time, the warehouse's convention.

Where a value does not parse, the original text is kept, so that the contract validation
quarantines the row with the value as the export spelled it.
"""

from __future__ import annotations

from dagster_project.warehouse import literal

WAREHOUSE_TIMEZONE = "Asia/Shanghai"

_FULL_WIDTH = "０１２３４５６７８９．，－＋：／％（）\u3000"
_HALF_WIDTH = "0123456789.,-+:/%() "

_NUMBER = (
    r"^(\(?)([-+]?)(?:[¥￥$€£]|RMB|CNY|USD|HKD|EUR|GBP|JPY)?([-+]?)(\d+|\d{1,3}(?:,\d{3})+)(\.\d+)?"
    r"(?:[eE]([-+]?\d+))?(%|万|亿|元)?(?:RMB|CNY|USD|HKD|EUR|GBP|JPY)?\)?$"
)
_YMD = r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(.*)$"
_XXY = r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(.*)$"
_COMPACT = r"^(\d{4})(\d{2})(\d{2})((?:[T\s].*)?)$"
_TIME = (
    r"^(?:[T\s]*(上午|下午)?\s*(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:[.,](\d{1,9}))?秒?)?\s*([AaPp][Mm])?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$"
_ISO_OFFSET = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"

# Macros (per connection, temporary): readable SQL below, and one definition of each pattern.
MACROS = f"""
create or replace temp macro s2s_text(x) as
    nullif(trim(translate(x, {literal(_FULL_WIDTH)}, {literal(_HALF_WIDTH)})), '');
create or replace temp macro s2s_number_parts(t) as regexp_extract(replace(replace(t, ' ', ''), chr(160), ''),
    {literal(_NUMBER)}, ['paren', 'sign1', 'sign2', 'int', 'frac', 'exp', 'unit']);
create or replace temp macro s2s_number_value(p) as case when p.int <> '' then
    (case when p.paren = '(' or p.sign1 = '-' or p.sign2 = '-' then -1 else 1 end)
    * (case when p.exp = '' then try_cast(replace(p.int, ',', '') || p.frac as decimal(38, 10))
            else try_cast(try_cast(replace(p.int, ',', '') || p.frac || 'e' || p.exp as double) as decimal(38, 10)) end)
    * (case p.unit when '%' then 0.01 when '万' then 10000 when '亿' then 100000000 else 1 end) end;
create or replace temp macro s2s_day_month(p, day_first) as struct_pack(
    y := p.y, m := case when day_first then p.b else p.a end, d := case when day_first then p.a else p.b end,
    rest := p.rest);
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
    """Wall time in `timezone` -> Asia/Shanghai wall time."""
    if timezone == WAREHOUSE_TIMEZONE:
        return naive
    return f"timezone({literal(WAREHOUSE_TIMEZONE)}, timezone({literal(timezone)}, {naive}))"


def _from_instant(instant: str) -> str:
    """A TIMESTAMPTZ -> Asia/Shanghai wall time."""
    return f"timezone({literal(WAREHOUSE_TIMEZONE)}, {instant})"


def number_text(x: str) -> str:
    """Text of the number in `x` (an SQL text expression), else `x` itself."""
    return f"coalesce(s2s_number_value(s2s_number_parts(s2s_text({x})))::varchar, {x})"


def _timestamp(t: str, timezone: str, day_first: bool) -> str:
    """Asia/Shanghai wall time of the normalised text `t` (NULL when it does not parse)."""
    parts = f"s2s_date_parts({t}, {str(day_first).lower()})"
    time = f"s2s_time_parts({parts}.rest)"
    wall = f"s2s_wall_time({parts}, {time})"
    offset = f"s2s_offset_minutes({time}.tz)"
    with_offset = _from_instant(
        f"timezone('UTC', {wall} - to_minutes({offset}))"
    )  # wall time minus its offset is UTC; timezone('UTC', naive) reads it as such
    return f"""case
        when regexp_full_match({t}, {literal(_ISO_NAIVE)}) then {_from_zone(f"try_cast({t} as timestamp)", timezone)}
        when regexp_full_match({t}, {literal(_ISO_OFFSET)}) then {_from_instant(f"try_cast({t} as timestamptz)")}
        when {time} is null then null
        when {time}.tz <> '' then {with_offset}
        when {time}.h = '' then {wall}
        else {_from_zone(wall, timezone)} end"""


def _explicit(t: str, fmt: str, timezone: str) -> str:
    """Asia/Shanghai wall time of `t` read with an explicit format."""
    if fmt in ("epoch_ms", "epoch_s"):
        seconds = f"try_cast({t} as double)" + (" / 1000" if fmt == "epoch_ms" else "")
        return _from_instant(f"try(to_timestamp({seconds}))")
    if "%z" in fmt or "%Z" in fmt:
        return _from_instant(f"try_strptime({t}, {literal(fmt)})")
    return _from_zone(f"try_strptime({t}, {literal(fmt)})", timezone)


def timestamp_text(x: str, timezone: str, day_first: bool, fmt: str | None = None) -> str:
    t = f"s2s_text({x})"
    wall = _explicit(t, fmt, timezone) if fmt else _timestamp(t, timezone, day_first)
    return f"coalesce(strftime({wall}, '%Y-%m-%d %H:%M:%S.%f'), {x})"


def date_text(x: str, timezone: str, day_first: bool, fmt: str | None = None) -> str:
    """A date is the day as written; only a time with an offset moves it (to the Shanghai day)."""
    t = f"s2s_text({x})"
    if fmt:
        day = f"cast({_explicit(t, fmt, timezone)} as date)"
    else:
        parts = f"s2s_date_parts({t}, {str(day_first).lower()})"
        time = f"s2s_time_parts({parts}.rest)"
        day = f"""case
            when {time}.tz <> '' then cast({_timestamp(t, timezone, day_first)} as date)
            else try(make_date({parts}.y::bigint, {parts}.m::bigint, {parts}.d::bigint)) end"""
    return f"coalesce(strftime({day}, '%Y-%m-%d'), {x})"


def typed_text(x: str, column_type: str, timezone: str, day_first: bool, fmt: str | None) -> str:
    """The export's text `x` normalised for a contract column of `column_type`."""
    if fmt == "text":
        return x
    kind = column_type.lower()
    if kind == "timestamp":
        return timestamp_text(x, timezone, day_first, fmt)
    if kind == "date":
        return date_text(x, timezone, day_first, fmt)
    if kind in ("bigint", "double") or kind.startswith("decimal"):
        return number_text(x)
    return x
