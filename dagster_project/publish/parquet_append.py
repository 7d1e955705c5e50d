"""Extending a published Parquet file by new rows without writing its old rows again.

A Parquet file is `PAR1`, its row groups (column chunks, then DuckDB's bloom filters), its footer
(a Thrift compact-encoded `FileMetaData` listing every row group with the byte offsets of its
pages), the footer's length and `PAR1`. Two files with the same schema, written by the same
writer, join into one: the first file's bytes up to its footer, the second's bytes between its
`PAR1` and its footer, and a footer listing the row groups of both, the second's offsets moved by
where its bytes now start. No page is decoded or encoded: for a new day at scale 10 that is 15.5 M
activity rows not encoded again (4.7 s) for the day's ~19 k.

The footer is decoded into a tree of (field id, type, value) that keeps every field, known to this
module or not (statistics, size statistics, new fields of a later Parquet version), and only the
offsets, the row count and the row-group ordinals are changed. Anything this module cannot vouch
for is refused (`CannotAppend`) and the caller writes the file whole: another schema, another
writer (`created_by`), another format version, other key/value metadata or column orders,
encryption, a column chunk in another file, a page index (its page offsets lie in the copied bytes,
not in the footer; DuckDB 2.0 writes none), a footer that does not decode. pyarrow reads footers
but cannot write one with moved offsets; a Thrift library would drop the fields its IDL does not
know.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

MAGIC = b"PAR1"

# Thrift compact protocol types
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)

# parquet.thrift field ids (https://github.com/apache/parquet-format/blob/master/src/main/thrift/parquet.thrift)
_FILE_META = {
    "version": 1,
    "schema": 2,
    "num_rows": 3,
    "row_groups": 4,
    "key_value_metadata": 5,
    "created_by": 6,
    "column_orders": 7,
    "encryption_algorithm": 8,
    "footer_signing_key_metadata": 9,
}
_ROW_GROUP = {"columns": 1, "num_rows": 3, "file_offset": 5, "ordinal": 7}
_COLUMN_CHUNK = {
    "file_path": 1,
    "file_offset": 2,
    "meta_data": 3,
    "offset_index_offset": 4,
    "column_index_offset": 6,
    "crypto_metadata": 8,
    "encrypted_column_metadata": 9,
}
# ColumnMetaData: data_page_offset, index_page_offset, dictionary_page_offset, bloom_filter_offset
_COLUMN_META_OFFSETS = (9, 10, 11, 14)


class CannotAppend(Exception):
    """The two files cannot be joined safely; write the file whole."""


# --- Thrift compact protocol: decode to a tree that keeps every field, encode it back ----------


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _unzigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _write_varint(out: bytearray, n: int) -> None:
    while True:
        if n < 0x80:
            out.append(n)
            return
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _read_value(buf: bytes, pos: int, kind: int):
    if kind in (_TRUE, _FALSE):  # a bool inside a list or map: one byte, kept as written
        return buf[pos], pos + 1
    if kind == _BYTE:
        return struct.unpack_from("b", buf, pos)[0], pos + 1
    if kind in (_I16, _I32, _I64):
        n, pos = _read_varint(buf, pos)
        return _unzigzag(n), pos
    if kind == _DOUBLE:
        return bytes(buf[pos : pos + 8]), pos + 8
    if kind == _BINARY:
        n, pos = _read_varint(buf, pos)
        return bytes(buf[pos : pos + n]), pos + n
    if kind in (_LIST, _SET):
        header = buf[pos]
        pos += 1
        size, element = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _read_varint(buf, pos)
        items = []
        for _ in range(size):
            item, pos = _read_value(buf, pos, element)
            items.append(item)
        return (element, items), pos
    if kind == _MAP:
        size, pos = _read_varint(buf, pos)
        if not size:
            return (0, 0, []), pos
        key_kind, value_kind = buf[pos] >> 4, buf[pos] & 0x0F
        pos += 1
        pairs = []
        for _ in range(size):
            key, pos = _read_value(buf, pos, key_kind)
            value, pos = _read_value(buf, pos, value_kind)
            pairs.append((key, value))
        return (key_kind, value_kind, pairs), pos
    if kind == _STRUCT:
        return read_struct(buf, pos)
    raise CannotAppend(f"unknown Thrift type {kind} in a Parquet footer")


def read_struct(buf: bytes, pos: int = 0) -> tuple[list, int]:
    """A Thrift compact struct at `pos`: [[field id, type, value], ...] in written order, and the end."""
    fields, last = [], 0
    while True:
        header = buf[pos]
        pos += 1
        if header == 0:
            return fields, pos
        kind, delta = header & 0x0F, header >> 4
        if delta:
            field_id = last + delta
        else:
            n, pos = _read_varint(buf, pos)
            field_id = _unzigzag(n)
        if kind in (_TRUE, _FALSE):
            value = kind == _TRUE
        else:
            value, pos = _read_value(buf, pos, kind)
        fields.append([field_id, kind, value])
        last = field_id


def _write_value(out: bytearray, kind: int, value) -> None:
    if kind in (_TRUE, _FALSE):
        out.append(value)
    elif kind == _BYTE:
        out += struct.pack("b", value)
    elif kind in (_I16, _I32, _I64):
        _write_varint(out, _zigzag(value))
    elif kind == _DOUBLE:
        out += value
    elif kind == _BINARY:
        _write_varint(out, len(value))
        out += value
    elif kind in (_LIST, _SET):
        element, items = value
        if len(items) < 15:
            out.append(len(items) << 4 | element)
        else:
            out.append(0xF0 | element)
            _write_varint(out, len(items))
        for item in items:
            _write_value(out, element, item)
    elif kind == _MAP:
        key_kind, value_kind, pairs = value
        _write_varint(out, len(pairs))
        if pairs:
            out.append(key_kind << 4 | value_kind)
            for key, item in pairs:
                _write_value(out, key_kind, key)
                _write_value(out, value_kind, item)
    elif kind == _STRUCT:
        write_struct(out, value)
    else:
        raise CannotAppend(f"unknown Thrift type {kind}")


def write_struct(out: bytearray, fields: list) -> None:
    last = 0
    for field_id, kind, value in fields:
        wire_kind = (_TRUE if value else _FALSE) if kind in (_TRUE, _FALSE) else kind
        if 0 < field_id - last <= 15:
            out.append((field_id - last) << 4 | wire_kind)
        else:
            out.append(wire_kind)
            _write_varint(out, _zigzag(field_id))
        if kind not in (_TRUE, _FALSE):
            _write_value(out, kind, value)
        last = field_id
    out.append(0)


# --- Parquet footers ---------------------------------------------------------------------------


def _field(fields: list, field_id: int):
    return next((f for f in fields if f[0] == field_id), None)


def read_footer(path: Path) -> tuple[list, int]:
    """The file's FileMetaData tree and the byte offset where the footer starts."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        if size < 12 or f.read(4) != MAGIC:
            raise CannotAppend(f"{path}: not a Parquet file")
        f.seek(-8, 2)
        tail = f.read(8)
        if tail[4:] != MAGIC:
            raise CannotAppend(f"{path}: not a Parquet file (encrypted footer or cut short)")
        length = struct.unpack("<I", tail[:4])[0]
        start = size - 8 - length
        if not 0 < length <= size - 12:
            raise CannotAppend(f"{path}: a footer of {length} bytes in a file of {size}")
        f.seek(start)
        footer = f.read(length)
    try:
        fields, end = read_struct(footer)
    except (IndexError, struct.error, RecursionError) as e:  # bytes that are not a Thrift struct
        raise CannotAppend(f"{path}: the footer does not decode ({e!r})") from e
    if end != length:
        raise CannotAppend(f"{path}: the footer is {length} bytes, its struct ends at {end}")
    for name in ("num_rows", "row_groups", "schema"):
        if _field(fields, _FILE_META[name]) is None:
            raise CannotAppend(f"{path}: the footer has no {name.replace('_', ' ')}")
    return fields, start


def _moved_row_group(row_group: list, shift: int, ordinal: int) -> list:
    """A copy of a RowGroup tree with every absolute file offset moved by `shift`. Offsets of 0 are
    left as they are: DuckDB writes 0 for the deprecated ColumnChunk.file_offset (no page starts
    at 0, where `PAR1` is)."""

    def moved(fields: list, ids) -> list:
        return [[i, k, v + shift if i in ids and k in (_I32, _I64) and v > 0 else v] for i, k, v in fields]

    columns = []
    for chunk in _field(row_group, _ROW_GROUP["columns"])[2][1]:
        if any(_field(chunk, _COLUMN_CHUNK[n]) for n in ("file_path", "crypto_metadata", "encrypted_column_metadata")):
            raise CannotAppend("a column chunk in another file or encrypted")
        if _field(chunk, _COLUMN_CHUNK["offset_index_offset"]) or _field(chunk, _COLUMN_CHUNK["column_index_offset"]):
            # the offset index lists its pages by absolute offset, inside bytes this module copies
            # unread; DuckDB 2.0 writes none
            raise CannotAppend("a column chunk with a page index")
        chunk = moved(chunk, {_COLUMN_CHUNK["file_offset"]})
        meta = _field(chunk, _COLUMN_CHUNK["meta_data"])
        if meta is None:
            raise CannotAppend("a column chunk without its metadata in the footer")
        meta[2] = moved(meta[2], _COLUMN_META_OFFSETS)
        columns.append(chunk)
    fields = moved(row_group, {_ROW_GROUP["file_offset"]})
    fields = [
        [i, k, (_STRUCT, columns) if i == _ROW_GROUP["columns"] else (ordinal if i == _ROW_GROUP["ordinal"] else v)]
        for i, k, v in fields
    ]
    return fields


def append_row_groups(base: Path, addition: Path, out: Path) -> int:
    """Write `out`: the rows of `base` followed by those of `addition` (both written by the same
    writer with the same schema), by copying their row groups' bytes. Returns the row count."""
    base_meta, base_end = read_footer(base)
    add_meta, add_end = read_footer(addition)
    for name in ("version", "schema", "key_value_metadata", "created_by", "column_orders"):
        mine, theirs = _field(base_meta, _FILE_META[name]), _field(add_meta, _FILE_META[name])
        if (mine and mine[2]) != (theirs and theirs[2]):
            raise CannotAppend(f"the two files differ in their {name.replace('_', ' ')}")
    encryption = ("encryption_algorithm", "footer_signing_key_metadata")
    if any(_field(m, _FILE_META[n]) for m in (base_meta, add_meta) for n in encryption):
        raise CannotAppend("an encrypted file")
    base_groups = _field(base_meta, _FILE_META["row_groups"])[2][1]
    add_groups = _field(add_meta, _FILE_META["row_groups"])[2][1]
    shift = base_end - len(MAGIC)  # the addition's bytes after its PAR1 start at base_end
    try:
        added = [_moved_row_group(g, shift, len(base_groups) + i) for i, g in enumerate(add_groups)]
    except (TypeError, IndexError) as e:  # a row group without its columns or metadata
        raise CannotAppend(f"{addition}: a row group that does not read ({e!r})") from e
    groups = base_groups + added
    if len(groups) > 32767:  # RowGroup.ordinal is an i16
        raise CannotAppend("more row groups than a Parquet ordinal counts")
    rows = sum(_field(m, _FILE_META["num_rows"])[2] for m in (base_meta, add_meta))
    merged = [
        [i, k, rows if i == _FILE_META["num_rows"] else ((_STRUCT, groups) if i == _FILE_META["row_groups"] else v)]
        for i, k, v in base_meta
    ]
    footer = bytearray()
    write_struct(footer, merged)
    with open(out, "wb") as target:
        for source, start, end in ((base, 0, base_end), (addition, len(MAGIC), add_end)):
            with open(source, "rb") as f:
                f.seek(start)
                _copy_bytes(f, target, end - start)
        target.write(footer)
        target.write(struct.pack("<I", len(footer)))
        target.write(MAGIC)
    return rows


def _copy_bytes(source, target, length: int) -> None:
    """Copy `length` bytes from `source`'s position to `target`'s, in the kernel where it can
    (sendfile, as shutil.copyfile does: 180 MB of web events in ~0.1 s against ~0.6 s through Python)."""
    target.flush()
    offset, left = source.tell(), length
    try:
        while left:
            sent = os.sendfile(target.fileno(), source.fileno(), offset, left)
            if not sent:
                raise CannotAppend("a Parquet file is shorter than its footer says")
            offset, left = offset + sent, left - sent
        target.seek(0, os.SEEK_END)
        return
    except (AttributeError, OSError):  # no sendfile between files here: copy through Python
        source.seek(offset)
    while left:
        chunk = source.read(min(left, 8 << 20))
        if not chunk:
            raise CannotAppend("a Parquet file is shorter than its footer says")
        target.write(chunk)
        left -= len(chunk)
