"""The pandas peer: RFM per customer and the opportunity funnel computed the way an analyst does it
today, with pandas straight from the raw extract files (no warehouse, no dbt).

    python bench/pandas_peer.py <raw_dir> [--as-of YYYY-MM-DD] --out peer.json

It must agree with `marts.rfm_customer` and the opportunity part of `marts.funnel` (see
bench/compare_peer.py), so it reproduces the warehouse's rules on the same messy input:

* drops: every `<raw>/<source>/<entity>/*.{csv,csv.gz,parquet,xlsx}`, oldest first by the
  YYYY-MM-DD in the file name (else the file's mtime day, UTC), then by name; a file with the same
  bytes as an earlier drop of the entity is skipped (it was "already loaded");
* CSV: UTF-8 with or without BOM, else GB18030 (GBK) when the first MiB is not UTF-8 (or when the
  name declares it, `x.gbk.csv`); rows with the wrong field count are skipped;
* values: trimmed, empty = null; a row whose value does not parse as its column's type, is outside
  the allowed set, or leaves a key empty is dropped (the warehouse quarantines it);
* versions: per key the row with the newest `updated_at` wins (null = oldest), ties -> newest drop,
  and within one drop the first line; entities without `updated_at`: newest drop, first line;
* timestamps: ISO-8601; without an offset Asia/Shanghai local time, with one converted to it;
* money: exact, in integer cents; foreign currency converted to CNY with erp/fx_rates at the
  transaction date (latest rate on or before it, else the currency's earliest rate), rounded half
  away from zero to the cent, as dbt/macros/fx.sql does.

Not mimicked (no exporter writes them): DuckDB's special literals ('epoch', 'infinity'), hexadecimal
integers, timestamps with named zones ('... Asia/Tokyo').

The column lists below are the analyst's own knowledge of the extracts (they mirror
dagster_project/contracts/, which the peer deliberately does not import).
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import hashlib
import io
import json
import re
import sys
import time
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------------------------
# The extracts the two marts need: column -> (type, options). Types: str, int, float, bool, date,
# ts, dec2 (decimal(18,2), kept as integer cents), dec6 (decimal(18,6), kept as integer millionths).
# ---------------------------------------------------------------------------------------------
STAGES_ALL = ["qualification", "needs_analysis", "proposal", "negotiation", "closed_won", "closed_lost"]
ENTITIES: dict[str, dict] = {
    "erp/sales_orders": {
        "key": ["order_id"],
        "updated_at": "updated_at",
        "columns": {
            "order_id": ("str", {"key": True}),
            "account_id": ("str", {}),
            "opportunity_id": ("str", {}),
            "rep_id": ("str", {}),
            "channel": ("str", {"allowed": ["direct", "distributor", "ecommerce", "retail"]}),
            "region": ("str", {}),
            "order_date": ("date", {}),
            "submitted_at": ("ts", {}),
            "approved_at": ("ts", {}),
            "shipped_at": ("ts", {}),
            "status": ("str", {"allowed": ["draft", "approved", "shipped", "cancelled"]}),
            "currency": ("str", {"optional": True, "default": "CNY"}),
            "updated_at": ("ts", {}),
        },
    },
    "erp/sales_order_lines": {
        "key": ["order_id", "line_no"],
        "updated_at": None,
        "columns": {
            "order_id": ("str", {"key": True}),
            "line_no": ("int", {"key": True}),
            "sku": ("str", {}),
            "quantity": ("int", {}),
            "unit_price": ("dec2", {}),
            "discount_rate": ("float", {}),
            "line_amount": ("dec2", {}),
        },
    },
    "erp/returns": {
        "key": ["return_id"],
        "updated_at": None,
        "columns": {
            "return_id": ("str", {"key": True}),
            "order_id": ("str", {}),
            "line_no": ("int", {}),
            "sku": ("str", {}),
            "quantity": ("int", {}),
            "amount": ("dec2", {}),
            "returned_at": ("ts", {}),
            "reason": ("str", {}),
        },
    },
    "erp/fx_rates": {
        "key": ["rate_date", "currency"],
        "updated_at": None,
        "columns": {
            "rate_date": ("date", {"key": True}),
            "currency": ("str", {"key": True}),
            "cny_per_unit": ("dec6", {}),
        },
    },
    "crm/opportunities": {
        "key": ["opportunity_id"],
        "updated_at": "updated_at",
        "columns": {
            "opportunity_id": ("str", {"key": True}),
            "account_id": ("str", {}),
            "owner_rep_id": ("str", {}),
            "lead_id": ("str", {}),
            "opportunity_type": ("str", {"allowed": ["new_business", "renewal", "upsell"]}),
            "product_line": ("str", {}),
            "amount": ("dec2", {}),
            "currency": ("str", {"optional": True, "default": "CNY"}),
            "created_at": ("ts", {}),
            "close_date": ("date", {}),
            "stage": ("str", {"allowed": STAGES_ALL}),
            "is_closed": ("bool", {}),
            "is_won": ("bool", {}),
            "loss_reason": ("str", {}),
            "updated_at": ("ts", {}),
        },
    },
    "crm/opportunity_stage_history": {
        "key": ["opportunity_id", "stage", "entered_at"],
        "updated_at": None,
        "columns": {
            "opportunity_id": ("str", {"key": True}),
            "stage": ("str", {"key": True, "allowed": STAGES_ALL}),
            "entered_at": ("ts", {"key": True}),
        },
    },
}

# Stage path of the opportunity funnel (closed_lost is off the path: it has no order).
STAGE_ORDER = {"qualification": 1, "needs_analysis": 2, "proposal": 3, "negotiation": 4, "closed_won": 5}

# RFM defaults (dbt/dbt_project.yml vars).
RFM_WINDOW_DAYS = 365
RFM_SEGMENTS = [  # first match wins
    ("high_value", lambda r, f, m: (r >= 4) & (f >= 4) & (m >= 4)),
    ("potential", lambda r, f, m: (r >= 4) & (f <= 2)),
    ("at_risk", lambda r, f, m: (r <= 2) & ((f >= 3) | (m >= 3))),
    ("hibernating", lambda r, f, m: (r <= 2) & (f <= 2) & (m <= 2)),
]
RFM_FALLBACK = "general"
TIER_STRATEGIC_ABOVE_CENTS = 500_000 * 100
TIER_GROWTH_FROM_CENTS = 100_000 * 100

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")
_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
_DECLARED_ENCODING = re.compile(r"\.(gbk|gb2312|gb18030|utf-?8)\.csv(\.gz)?$", re.IGNORECASE)
# The warehouse trims values with SQL trim(): Unicode space separators (not tabs or newlines).
# Unicode category Zs: the space, no-break space, ogham mark, en/em/thin... spaces, ideographic space.
_SPACES = " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_TRUE = {"true", "t", "1", "yes", "y", "是"}
_FALSE = {"false", "f", "0", "no", "n", "否"}
_NUMBER = re.compile(r"^[+-]?(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?$", re.ASCII)
_DATE_RE = r"(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})"
_TIME_RE = r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?)"
_OFFSET_RE = r"(?:(?P<z>Z|[+-]\d{2}(?::?\d{2})?))"
_TS = re.compile(rf"^{_DATE_RE}{_TIME_RE}?{_OFFSET_RE}?$", re.ASCII)
_DATE = re.compile(rf"^{_DATE_RE}{_TIME_RE}?{_OFFSET_RE}?$", re.ASCII)
_SHANGHAI = "Asia/Shanghai"


# ---------------------------------------------------------------------------------------------
# Reading drops
# ---------------------------------------------------------------------------------------------
def find_drops(raw_dir: Path, entity: str) -> list[tuple[date, str, Path]]:
    folder = raw_dir / entity
    if not folder.is_dir():
        return []
    drops = []
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith(".") or not path.name.lower().endswith(SUFFIXES):
            continue
        match = _DATE_IN_NAME.search(path.name)
        try:
            day = date.fromisoformat(match.group(1)) if match else None
        except ValueError:
            day = None
        if day is None:
            day = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date()
        drops.append((day, path.name, path))
    return sorted(drops, key=lambda d: (d[0], d[1]))


def _encoding(path: Path, data: bytes) -> str:
    declared = _DECLARED_ENCODING.search(path.name)
    if declared:
        return "utf-8" if declared.group(1).lower().startswith("utf") else "gb18030"
    head = data[: 1 << 20]
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    return "utf-8"


def _cell_text(value: object) -> str | None:
    """An xlsx cell as text, the way the loader reads it."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_drop(path: Path) -> pd.DataFrame | None:
    """One drop as a frame of text (None = null), header trimmed; None when the file is unreadable."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        # pyarrow is not installed, so pandas.read_parquet has no engine here: DuckDB is used ONLY to
        # read the Parquet file into a DataFrame (every column as text, as the loader reads it).
        import duckdb

        con = duckdb.connect()
        try:
            cols = [r[0] for r in con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()]
            quoted = ['"' + c.replace('"', '""') + '"' for c in cols]
            renamed = ['"' + c.strip().replace('"', '""') + '"' for c in cols]
            select = ", ".join(f"{q}::varchar as {r}" for q, r in zip(quoted, renamed, strict=True))
            frame = con.execute(f"select {select} from read_parquet(?)", [str(path)]).df()
        except duckdb.Error:
            return None
        finally:
            con.close()
        frame = frame.astype(object).where(frame.notna(), None)
        header = list(frame.columns)
    elif name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception:
            return None
        try:
            rows = workbook.worksheets[0].iter_rows(values_only=True)
            first = next(rows, None)
            if first is None or not any(c is not None for c in first):
                return None
            header = [_cell_text(c) or "" for c in first]
            records = []
            for values in rows:
                if values is None or all(v is None for v in values):
                    continue
                cells = [_cell_text(v) for v in values[: len(header)]]
                records.append(cells + [None] * (len(header) - len(cells)))
        finally:
            workbook.close()
        frame = pd.DataFrame(records, columns=range(len(header)), dtype=object)
    else:
        data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        encoding = _encoding(path, data)
        invalid_bytes = False
        try:
            text = data.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        except UnicodeDecodeError:
            if encoding != "utf-8":
                return None  # the loader rejects a file that is not valid in its detected encoding
            # UTF-8 in its first MiB, bad bytes further on: the rows holding them are malformed.
            text = data.decode("utf-8-sig", errors="replace")
            invalid_bytes = True
        # The python engine tells a missing field (None) from an empty one (''): a row with too few
        # fields is malformed like one with too many (which on_bad_lines='skip' drops).
        raw = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=object,
            keep_default_na=False,
            on_bad_lines="skip",
            engine="python",
            skip_blank_lines=True,
        )
        if raw.empty:
            return None
        header = ["" if v is None else str(v) for v in raw.iloc[0]]
        frame = raw.iloc[1:].reset_index(drop=True)
        frame = frame[frame.iloc[:, -1].notna()] if len(frame.columns) else frame
        if invalid_bytes:
            frame = frame[~frame.apply(lambda col: col.str.contains("\ufffd", regex=False, na=False)).any(axis=1)]
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for i, h in enumerate(header):
        if not h:
            header[i] = h = f"_unnamed_{i + 1}"
        if h.lower() in seen:
            return None  # a header naming a column twice rejects the file
        seen.add(h.lower())
    frame = frame.copy()
    frame.columns = header
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Typing values (None/NA = null or unparseable)
# ---------------------------------------------------------------------------------------------
def _scaled(text: str, scale: int, limit: int) -> int | None:
    """Exact decimal text as an integer of 10**-scale units, rounded half away from zero."""
    if not _NUMBER.match(text):
        return None
    try:
        value = Decimal(text.replace("_", "")).scaleb(scale).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    value = int(value)
    return value if abs(value) < limit else None


def _float(text: str) -> float | None:
    if "," in text or text.lower().startswith(("0x", "-0x", "+0x")):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _mapped(values: pd.Series, fn, dtype: str) -> pd.Series:
    """fn over the distinct non-null values (None = unparseable), as a nullable `dtype` column."""
    lookup = {u: fn(u) for u in values.dropna().unique()}
    out = [None if v is None or v != v else lookup[v] for v in values.astype(object)]
    return pd.Series(pd.array(out, dtype=dtype), index=values.index)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO-8601 text -> naive Asia/Shanghai local time (NaT when it does not parse)."""
    # Fast path for the common `YYYY-MM-DD HH:MM:SS` (no offset: already local time); the rest below.
    fast = pd.to_datetime(values, format="%Y-%m-%d %H:%M:%S", errors="coerce").astype("datetime64[us]")
    rest = values.notna() & fast.isna()
    if rest.any():
        fast[rest] = _parse_timestamps_slow(values[rest])
    return fast


def _parse_timestamps_slow(values: pd.Series) -> pd.Series:
    parts = values.astype(object).str.extract(_TS)
    frac = parts["f"].fillna("").str.slice(0, 6).str.ljust(6, "0")
    local = pd.to_datetime(
        pd.DataFrame(
            {
                "year": pd.to_numeric(parts["y"]),
                "month": pd.to_numeric(parts["m"]),
                "day": pd.to_numeric(parts["d"]),
                "hour": pd.to_numeric(parts["H"]).fillna(0),
                "minute": pd.to_numeric(parts["M"]).fillna(0),
                "second": pd.to_numeric(parts["S"]).fillna(0),
                "microsecond": pd.to_numeric(frac.where(parts["y"].notna(), "0")).fillna(0),
            }
        ),
        errors="coerce",
    )
    bad_clock = (pd.to_numeric(parts["H"]) > 24) | (pd.to_numeric(parts["M"]) > 59) | (pd.to_numeric(parts["S"]) > 59)
    local = local.mask(bad_clock.fillna(False))
    zone = parts["z"]
    has_zone = zone.notna()
    if has_zone.any():
        z = zone[has_zone]
        sign = np.where(z.str.startswith("-"), -1, 1)
        digits = z.str.replace(r"[^0-9]", "", regex=True)
        hours = pd.to_numeric(digits.str.slice(0, 2)).fillna(0)
        minutes = pd.to_numeric(digits.str.slice(2, 4).replace("", "0")).fillna(0)
        offset = pd.to_timedelta(sign * (hours * 60 + minutes), unit="min")
        utc = (local[has_zone] - offset).dt.tz_localize("UTC")
        local = local.astype("datetime64[us]")
        local[has_zone] = utc.dt.tz_convert(_SHANGHAI).dt.tz_localize(None).astype("datetime64[us]")
    return local.astype("datetime64[us]")


def parse_dates(values: pd.Series) -> pd.Series:
    parts = values.astype(object).str.extract(_DATE)
    stamp = pd.to_datetime(
        pd.DataFrame(
            {"year": pd.to_numeric(parts["y"]), "month": pd.to_numeric(parts["m"]), "day": pd.to_numeric(parts["d"])}
        ),
        errors="coerce",
    )
    return stamp.astype("datetime64[s]")


def type_column(values: pd.Series, kind: str) -> pd.Series:
    if kind == "str":
        return values
    if kind == "ts":
        return parse_timestamps(values)
    if kind == "date":
        return parse_dates(values)
    if kind == "bool":
        low = values.str.lower()
        return low.map(lambda v: True if v in _TRUE else False if v in _FALSE else None, na_action="ignore")
    if kind == "int":
        return _mapped(values, lambda v: _scaled(v, 0, 1 << 63), "Int64")
    if kind == "dec2":
        return _mapped(values, lambda v: _scaled(v, 2, 10**18), "Int64")
    if kind == "dec6":
        return _mapped(values, lambda v: _scaled(v, 6, 10**18), "Int64")
    if kind == "float":
        return _mapped(values, _float, "Float64")
    raise ValueError(kind)


def contract_columns(frame: pd.DataFrame, spec: dict) -> pd.DataFrame | None:
    """The spec's columns of a drop as text (matched case-insensitively; an absent optional column is
    all null); None when a required column is missing, which rejects the file."""
    by_lower = {c.lower(): c for c in frame.columns}
    out = {}
    for name, (_kind, opts) in spec["columns"].items():
        source = by_lower.get(name)
        if source is None and not opts.get("optional"):
            return None
        out[name] = (
            frame[source].astype(object) if source is not None else pd.Series(None, index=frame.index, dtype=object)
        )
    return pd.DataFrame(out, index=frame.index)


def validate(frame: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The rows the warehouse would load, typed: a value that does not parse as its type, is outside the
    allowed set, or leaves a key empty drops the row (the warehouse quarantines it)."""
    out = pd.DataFrame(index=frame.index)
    bad = pd.Series(False, index=frame.index)
    for name, (kind, opts) in spec["columns"].items():
        raw = frame[name]
        raw = raw.where(raw.isna(), raw.str.strip(_SPACES))
        raw = raw.where(raw != "", None)
        typed = type_column(raw, kind)
        if "default" in opts:
            typed = typed.where(typed.notna(), opts["default"])
        if kind == "float":  # NaN is a valid double: only text that is no number at all is bad
            bad |= raw.notna() & raw.map(lambda v: _float(v) is None, na_action="ignore").astype(bool)
        elif kind != "str":
            bad |= raw.notna() & typed.isna()
        if opts.get("allowed"):
            bad |= typed.notna() & ~typed.isin(opts["allowed"])
        if opts.get("key"):
            bad |= raw.isna()
        out[name] = typed
    extra = [c for c in frame.columns if c not in out.columns]
    return pd.concat([out, frame[extra]], axis=1)[~bad]


def load_entity(raw_dir: Path, entity: str) -> pd.DataFrame:
    """The entity's current rows: every drop's valid rows, newest version of each key."""
    spec = ENTITIES[entity]
    columns = list(spec["columns"])
    parts, hashes = [], set()
    for index, (_day, _name, path) in enumerate(find_drops(raw_dir, entity)):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in hashes:
            continue  # the same content as an earlier drop: already loaded, skipped
        hashes.add(digest)
        frame = read_drop(path)
        if frame is None:
            continue
        selected = contract_columns(frame, spec)
        if selected is None or selected.empty:
            continue
        parts.append(selected.assign(_drop=index, _line=np.arange(len(selected))))
    if not parts:
        return validate(pd.DataFrame({c: pd.Series(dtype=object) for c in columns}), spec)
    rows = validate(pd.concat(parts, ignore_index=True), spec)  # all drops at once: the same rules per row
    order = []
    if spec["updated_at"]:
        rows["_u"] = rows[spec["updated_at"]].to_numpy("datetime64[us]").view("int64")  # NaT = oldest
        order.append("_u")
    rows["_neg_line"] = -rows["_line"]
    order += ["_drop", "_neg_line"]
    rows = rows.sort_values(order, kind="stable")
    rows = rows.drop_duplicates(spec["key"], keep="last")
    return rows[columns].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Money
# ---------------------------------------------------------------------------------------------
def fx_rates(raw_dir: Path) -> pd.DataFrame:
    fx = load_entity(raw_dir, "erp/fx_rates")
    fx["currency"] = fx["currency"].str.upper()
    return fx


def rate_at(fx: pd.DataFrame, currency: pd.Series, day: pd.Series) -> pd.Series:
    """CNY per unit in millionths at each date: 1 for CNY, else the latest rate on or before the date,
    else (no such rate, no date, or a null rate) the currency's earliest non-null rate."""
    out = pd.Series(pd.NA, index=currency.index, dtype="Int64")
    out[currency == "CNY"] = 1_000_000
    todo = currency.notna() & (currency != "CNY")
    if not todo.any() or fx.empty:
        return out
    first = (
        fx[fx["cny_per_unit"].notna()]
        .sort_values("rate_date")
        .drop_duplicates("currency")
        .set_index("currency")["cny_per_unit"]
    )
    left = pd.DataFrame(
        {
            "currency": currency[todo].astype(object),
            "day": day[todo].astype("datetime64[s]"),
            "_i": currency[todo].index,
        }
    )
    dated = left[left["day"].notna()].sort_values("day")
    right = fx[["currency", "rate_date", "cny_per_unit"]].copy()
    right["currency"] = right["currency"].astype(object)
    right = right.sort_values("rate_date")
    matched = pd.merge_asof(dated, right, left_on="day", right_on="rate_date", by="currency", direction="backward")
    rate = pd.Series(pd.NA, index=left["_i"], dtype="Int64")
    rate[matched["_i"].to_numpy()] = matched["cny_per_unit"].astype("Int64").to_numpy()
    fallback = pd.Series(left["currency"].map(first).to_numpy(), index=left["_i"]).astype("Int64")
    rate = rate.fillna(fallback)
    out[rate.index] = rate
    return out


def to_cny_cents(cents: pd.Series, rate_millionths: pd.Series) -> pd.Series:
    """round(amount x rate, 2), half away from zero, exact; null when either is null."""
    ok = cents.notna() & rate_millionths.notna()
    a = cents[ok].astype(object)
    r = rate_millionths[ok].astype(object)
    result = pd.Series(pd.NA, index=cents.index, dtype="Int64")
    values = []
    for x, y in zip(a, r, strict=True):
        p = int(x) * int(y)
        if abs(p) >= 10**18:
            # decimal(18,2) x decimal(18,6) is decimal(18,8) in DuckDB: the warehouse errors here.
            raise OverflowError(f"amount {int(x) / 100} x rate {int(y) / 1e6} overflows the warehouse's decimal(18,8)")
        q, rem = divmod(abs(p), 1_000_000)
        q += 1 if 2 * rem >= 1_000_000 else 0
        values.append(q if p >= 0 else -q)
    result[ok] = pd.array(values, dtype="Int64")
    return result


# ---------------------------------------------------------------------------------------------
# RFM
# ---------------------------------------------------------------------------------------------
def order_net_revenue(raw_dir: Path, as_of: date | None) -> tuple[pd.DataFrame, date]:
    """One row per order not cancelled, dated up to the as-of date, with its net revenue in cents."""
    orders = load_entity(raw_dir, "erp/sales_orders")
    lines = load_entity(raw_dir, "erp/sales_order_lines")
    returns = load_entity(raw_dir, "erp/returns")
    fx = fx_rates(raw_dir)
    if as_of is None:
        newest = orders["order_date"].max() if len(orders) else pd.NaT
        as_of = newest.date() if pd.notna(newest) else date.today()

    orders["fx_rate"] = rate_at(fx, orders["currency"], orders["order_date"])
    lines = lines.merge(
        orders[["order_id", "account_id", "order_date", "status", "fx_rate"]], on="order_id", how="left"
    )
    lines["line_cny"] = to_cny_cents(lines["line_amount"], lines["fx_rate"])

    # Returns: in the order's currency (CNY when the order is unknown), at the return date.
    currency = returns["order_id"].map(orders.set_index("order_id")["currency"]).astype(object)
    currency = currency.where(currency.notna(), "CNY")
    returned_day = returns["returned_at"].dt.floor("D")
    returns["amount_cny"] = to_cny_cents(returns["amount"], rate_at(fx, currency, returned_day))
    # A return without line_no goes to the order's first line with the same sku.
    first_line = lines.groupby(["order_id", "sku"])["line_no"].min()
    no_line = returns["line_no"].isna()
    fill = pd.Series(
        [
            first_line.get((o, s), pd.NA) if pd.notna(s) else pd.NA
            for o, s in zip(returns.loc[no_line, "order_id"], returns.loc[no_line, "sku"], strict=True)
        ],
        index=returns.index[no_line],
        dtype="Int64",
    )
    returns["line_no"] = returns["line_no"].astype("Int64")
    returns.loc[no_line, "line_no"] = fill
    per_line = (
        returns.dropna(subset=["line_no"])
        .groupby(["order_id", "line_no"])["amount_cny"]
        .sum(min_count=0)
        .rename("returned_cny")
        .reset_index()
    )
    per_line["line_no"] = per_line["line_no"].astype("Int64")
    lines["line_no"] = lines["line_no"].astype("Int64")
    lines = lines.merge(per_line, on=["order_id", "line_no"], how="left")
    lines["net_cny"] = lines["line_cny"] - lines["returned_cny"].fillna(0).astype("Int64")

    as_of_ts = pd.Timestamp(as_of)
    not_cancelled = (lines["status"] != "cancelled").fillna(True)
    keep = not_cancelled & lines["order_date"].notna() & (lines["order_date"] <= as_of_ts)
    lines = lines[keep]
    per_order = (
        lines.groupby("order_id", dropna=False)
        .agg(
            account_id=("account_id", "first"),
            order_date=("order_date", "first"),
            net_cny=("net_cny", "sum"),
            priced=("net_cny", "count"),
        )
        .reset_index()
    )
    # SQL sum(): null when every line's amount is null (pandas would say 0).
    per_order["net_cny"] = per_order["net_cny"].astype("Int64").where(per_order["priced"] > 0)
    return per_order, as_of


def _cume_dist(values: pd.Series) -> np.ndarray:
    """cume_dist() over (order by value), nulls last (a null row's peers are all the nulls)."""
    n = len(values)
    present = values.notna().to_numpy()
    ordered = np.sort(values[present].astype("int64").to_numpy())
    counts = np.full(n, n, dtype="int64")
    counts[present] = np.searchsorted(ordered, values[present].astype("int64").to_numpy(), side="right")
    return counts.astype("float64") / float(n)


def compute_rfm(per_order: pd.DataFrame, as_of: date) -> pd.DataFrame:
    as_of_ts = pd.Timestamp(as_of)
    start = as_of_ts - pd.Timedelta(days=RFM_WINDOW_DAYS)
    window = per_order[(per_order["order_date"] > start) & (per_order["order_date"] <= as_of_ts)]
    window = window[window["account_id"].notna()]  # an order without an account is no customer's
    if window.empty:
        return pd.DataFrame(
            columns=[
                "account_id",
                "recency_days",
                "frequency",
                "monetary_cents",
                "r_score",
                "f_score",
                "m_score",
                "rfm_segment",
                "customer_tier",
            ]
        )
    g = window.groupby("account_id", dropna=False)
    rfm = pd.DataFrame(
        {
            "recency_days": (as_of_ts - g["order_date"].max()).dt.days,
            "frequency": g["order_id"].nunique(),
            "monetary_cents": g["net_cny"].sum().astype("Int64").where(g["net_cny"].count() > 0),
        }
    ).reset_index()
    rfm["r_score"] = 6 - np.ceil(5 * _cume_dist(rfm["recency_days"])).astype(int)
    rfm["f_score"] = np.ceil(5 * _cume_dist(rfm["frequency"])).astype(int)
    rfm["m_score"] = np.ceil(5 * _cume_dist(rfm["monetary_cents"])).astype(int)
    r, f, m = rfm["r_score"], rfm["f_score"], rfm["m_score"]
    segment = pd.Series(RFM_FALLBACK, index=rfm.index, dtype=object)
    decided = pd.Series(False, index=rfm.index)
    for name, rule in RFM_SEGMENTS:
        hit = rule(r, f, m) & ~decided
        segment[hit] = name
        decided |= hit
    rfm["rfm_segment"] = segment
    money = rfm["monetary_cents"]
    rfm["customer_tier"] = np.where(
        (money > TIER_STRATEGIC_ABOVE_CENTS).fillna(False),
        "strategic",
        np.where((money >= TIER_GROWTH_FROM_CENTS).fillna(False), "growth", "basic"),
    )
    return rfm


# ---------------------------------------------------------------------------------------------
# Opportunity funnel
# ---------------------------------------------------------------------------------------------
def compute_funnel(raw_dir: Path, as_of: date) -> list[dict]:
    opportunities = load_entity(raw_dir, "crm/opportunities")
    history = load_entity(raw_dir, "crm/opportunity_stage_history")
    created = opportunities["created_at"].dt.floor("D")
    scoped = opportunities.loc[created.isna() | (created <= pd.Timestamp(as_of)), "opportunity_id"]
    reached = pd.concat(
        [
            history[["opportunity_id", "stage"]],
            opportunities.loc[opportunities["stage"].notna(), ["opportunity_id", "stage"]],
        ]
    )
    reached = reached[reached["opportunity_id"].isin(set(scoped))]
    # every deal reached at least the first stage (a lost deal without history: qualification)
    furthest = (
        reached["stage"]
        .map(STAGE_ORDER)
        .groupby(reached["opportunity_id"])
        .max()
        .reindex(pd.Index(scoped.unique()))
        .fillna(1)
        .clip(lower=1)
        .to_numpy()
    )
    steps = sorted(STAGE_ORDER.items(), key=lambda kv: kv[1])
    counts = [int(np.sum(furthest >= order)) for _stage, order in steps]
    funnel = []
    for i, (stage, order) in enumerate(steps):
        nxt = counts[i + 1] if i + 1 < len(counts) else None
        funnel.append(
            {
                "step": stage,
                "step_order": order,
                "reached_count": counts[i],
                "next_step_count": nxt,
                "conversion_rate": (nxt / counts[i]) if nxt is not None and counts[i] else None,
            }
        )
    return funnel


# ---------------------------------------------------------------------------------------------
def run(raw_dir: Path, as_of: date | None) -> dict:
    started = time.perf_counter()
    per_order, as_of = order_net_revenue(raw_dir, as_of)
    rfm = compute_rfm(per_order, as_of)
    rfm_done = time.perf_counter()
    funnel = compute_funnel(raw_dir, as_of)
    finished = time.perf_counter()
    rows = []
    for rec in rfm.itertuples(index=False):
        cents = rec.monetary_cents
        rows.append(
            {
                "account_id": None if pd.isna(rec.account_id) else rec.account_id,
                "recency_days": int(rec.recency_days),
                "frequency": int(rec.frequency),
                "monetary": None if pd.isna(cents) else str(Decimal(int(cents)).scaleb(-2)),
                "r_score": int(rec.r_score),
                "f_score": int(rec.f_score),
                "m_score": int(rec.m_score),
                "rfm_segment": rec.rfm_segment,
                "customer_tier": rec.customer_tier,
            }
        )
    return {
        "peer": "pandas",
        "pandas_version": pd.__version__,
        "as_of": as_of.isoformat(),
        "seconds": {
            "rfm": round(rfm_done - started, 3),
            "funnel": round(finished - rfm_done, 3),
            "total": round(finished - started, 3),
        },
        "rfm": sorted(rows, key=lambda r: (r["account_id"] is None, r["account_id"] or "")),
        "funnel": funnel,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path)
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=None,
        help="reference date (default: the newest order date, as the marts)",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run(args.raw_dir, args.as_of)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(
        f"pandas peer: {len(result['rfm'])} customers, as of {result['as_of']}, "
        f"{result['seconds']['total']:.2f}s -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["compute_funnel", "compute_rfm", "load_entity", "main", "run"]
