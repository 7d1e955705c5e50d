"""What a drop's bytes must be before DuckDB reads them, checked in bounded memory.

A file that fails a check is rejected (`FileRejected`, with the reason) instead of crashing the
entity's step: a truncated or corrupt gzip stream, a gzip bomb, a header that is not one, an
encoding the name declares but the bytes contradict, a column named like one of the loader's own.
A CSV line longer than DuckDB's line limit is cut out of the copy DuckDB reads and quarantined by
its line number: DuckDB drops a line longer than its read buffer without a word.

DuckDB reads a path as a glob pattern (`accounts_[x].csv`, `accounts_*.csv`), so a path with a glob
character is read through a link with a plain name in a private temporary folder (`exact_read_path`):
exactly the one file is read.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import enum
import gzip
import io
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dagster_project.warehouse import LINEAGE_COLUMNS, warehouse_config

# Columns the loader adds while it checks a drop, and the lineage columns of every raw table: a
# file bringing one of them would overwrite the loader's own bookkeeping.
INTERNAL_COLUMNS = ("_line", "_drop_seq", "_problems", "_rank", "_kept_line", "_raw_record")
RESERVED_COLUMNS = frozenset(name.lower() for name in (*INTERNAL_COLUMNS, *(n for n, _ in LINEAGE_COLUMNS)))
_CHUNK = 1 << 20
_SNIFF_BYTES = 1 << 20
HEAD_CHARS = 10_000  # of a quarantined over-long line, kept as its raw record
_HEAD_BYTES = HEAD_CHARS * 4  # UTF-8: at most 4 bytes a character
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class FileRejected(Exception):
    """The whole file cannot be loaded; the message says why (and names the column if one is missing)."""


def header_further_down(
    path: Path, encoding: str | None, names: list[str], lines: int = 10, sheet: str | None = None
) -> str:
    """ " (line N holds ...)" when one of the file's first `lines` lines below the first holds every
    name in `names` as a field: a title or a note above the header, as report-style exports (ERP
    "序时簿" lists, saved reports) write; for an xlsx file, the rows of its first sheet (or of `sheet`).
    "" otherwise."""
    if not names:
        return ""
    wanted = {n.strip().lower() for n in names}
    if path.suffix.lower() == ".xlsx":
        rows = _xlsx_head(path, lines, sheet)
    elif encoding is None:
        return ""
    else:
        try:
            with gzip_errors(), open_bytes(path) as fh:
                if encoding.startswith("utf-16"):  # its line breaks are two bytes: decode, then split
                    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
                    text = decoder.decode(fh.read(lines << 16)).splitlines(keepends=True)[:lines]
                else:
                    head = [fh.readline(1 << 16) for _ in range(lines)]
                    text = [raw.decode("utf-8-sig" if encoding == "utf-8" else encoding) for raw in head if raw]
            rows = [next(csv.reader([line.rstrip("\r\n")], delimiter=csv_delimiter(line)), []) for line in text]
        except (OSError, UnicodeDecodeError, csv.Error, FileRejected):
            return ""
    for number, row in enumerate(rows[1:], start=2):
        if wanted <= {field.strip().lower() for field in row}:
            shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
            return (
                f" (line {number} holds {shown}: a title or note above the header? The header must be the "
                f"first line: remove the {number - 1} line(s) above it, or, for a company's export read through "
                f"a mapping, set `header_row: {number}` in its file rule)"
            )
    return ""


def _xlsx_head(path: Path, rows: int, sheet: str | None = None) -> list[list[str]]:
    """The text of the first `rows` rows of the first sheet, or of `sheet` (any case); [] for a
    workbook that cannot be read or has no such sheet."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            named = [ws for ws in workbook.worksheets if sheet and ws.title.strip().lower() == sheet.strip().lower()]
            if sheet and not named:
                return []
            found = (named or workbook.worksheets)[0].iter_rows(max_row=rows, values_only=True)
            return [[str(v) for v in values if v is not None] for values in found]
        finally:
            workbook.close()
    except Exception:  # openpyxl raises many kinds for a broken file; the rejection already says why
        return []


@dataclass(frozen=True)
class Limits:
    """What one file may be (config/warehouse.yml, section ingest)."""

    max_line_bytes: int  # a longer CSV line is quarantined (DuckDB's own limit is set to it too)
    gzip_max_ratio: float  # a .csv.gz expanding more than this many times ...
    gzip_bomb_min_bytes: int  # ... and to more than this is rejected as a gzip bomb
    gzip_copy_max_bytes: int  # a .csv.gz inflating to more is read by DuckDB from the file itself


@cache
def ingest_limits() -> Limits:
    config = warehouse_config("ingest")
    return Limits(
        max_line_bytes=int(config["max_line_bytes"]),
        gzip_max_ratio=float(config["gzip_max_ratio"]),
        gzip_bomb_min_bytes=int(config["gzip_bomb_min_mb"]) << 20,
        gzip_copy_max_bytes=int(config["gzip_copy_max_mb"]) << 20,
    )


def is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def open_bytes(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if is_gzip(path) else path.open("rb")


@contextmanager
def gzip_errors() -> Iterator[None]:
    """A broken gzip stream is a property of the file: reject it, naming what is wrong."""
    try:
        yield
    except EOFError as exc:
        raise FileRejected(f"truncated gzip file: {exc}") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise FileRejected(f"not a valid gzip file: {exc}") from exc


def _invalid_at(head: bytes, encoding: str) -> int | None:
    """Offset of the first byte that is not valid in the encoding (None: all valid so far)."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        return None
    except UnicodeDecodeError as exc:
        return exc.start


# A Chinese character whose second byte is an ASCII letter, right after an ASCII letter, is how an
# accented letter of Windows-1252 text reads in GBK: `Kühlbox` is K, 0xFC, h, l, b, o, x, and GBK
# takes 0xFC with the `h` after it for one (rare) character. Chinese text rarely has such a character
# at all (GB2312, the common characters, has both bytes above 0x7F), let alone glued to a Latin
# letter; Western text has one for most accented letters. So a file where they are most of the
# non-ASCII characters is refused rather than loaded as mojibake (DECISIONLOG, "Encodings"). An
# accented letter that starts a word (`Émile`: 0xC9, m, i, l, e) reads as such a character glued to
# the rest of the word instead: its second byte a letter, an ASCII character (or the start) before
# it, a lowercase letter after it. Chinese text puts another character or punctuation after its own.
_AFTER_A_LATIN_LETTER = re.compile(r"[A-Za-z]([^\x00-\x7f])")
_AFTER_ASCII_BEFORE_LOWERCASE = re.compile(r"(?<![^\x00-\x7f])([^\x00-\x7f])[a-z]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _western_text_read_as_gbk(head: bytes) -> str | None:
    """Where the bytes, valid GBK, read like Windows-1252 text (the first place, both ways), or None."""
    text = codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
    after_a_letter = {
        match.start(1)
        for match in _AFTER_A_LATIN_LETTER.finditer(text)
        if 0x40 <= match.group(1).encode("gb18030")[-1] <= 0x7E
    }
    starting_a_word = {
        match.start(1)
        for match in _AFTER_ASCII_BEFORE_LOWERCASE.finditer(text)
        if (second := chr(match.group(1).encode("gb18030")[-1])).isascii() and second.isalpha()
    }
    suspects = sorted(after_a_letter | starting_a_word)
    non_ascii = len(_NON_ASCII.findall(text))
    if not suspects or len(suspects) * 2 <= non_ascii:
        return None
    at = suspects[0]
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line = text[line_start : line_end if line_end >= 0 else len(text)].rstrip("\r")
    words = re.findall(r"\S+", line[: at - line_start + 1])
    word = (words[-1] if words else "") + re.split(r"[\s,;|\t]", line[at - line_start + 1 :])[0]
    word = re.split(r"[,;|\t]", word)[-1][:40]
    as_cp1252 = word.encode("gb18030").decode("cp1252", errors="replace")
    return (
        f"{len(suspects)} of its {non_ascii} non-ASCII characters are rare Chinese characters glued to a Latin "
        f"letter, the first on line {text.count(chr(10), 0, at) + 1}: '{word}' (as Windows-1252: '{as_cp1252}')"
    )


def _utf16_without_mark(head: bytes) -> str | None:
    """`utf-16-le` / `utf-16-be` for UTF-16 text without a byte order mark: mostly ASCII, so every
    other byte is zero, on one side only (valid UTF-8 too, which it would otherwise be read as)."""
    sample = head[:4096]
    pairs = len(sample) // 2
    if pairs < 8 or b"\0" not in sample:
        return None
    even, odd = sample[0 : 2 * pairs : 2].count(0), sample[1 : 2 * pairs : 2].count(0)
    if odd > 0.3 * pairs and even < 0.05 * pairs:
        return "utf-16-le"
    if even > 0.3 * pairs and odd < 0.05 * pairs:
        return "utf-16-be"
    return None


def sniff_encoding(path: Path, declared: str | None, otherwise: str | None = None) -> str:
    """`utf-8` or `gb18030` (the superset of GBK), from the first MiB; rejects what fits neither.
    `utf-16` for a file that starts with its byte order mark (Excel's "Unicode text", Google and
    Microsoft Ads' "CSV for Excel"): the mark says it, whatever the name or the mapping declares.

    An encoding declared in the name (`x.gbk.csv`) must fit the bytes: a file declared GBK that is
    valid UTF-8 would load as mojibake. A UTF-8 file with a bad byte past the first MiB is still
    read as UTF-8: the bad rows are quarantined. `otherwise`: the encoding a company's mapping gives
    for its files that are not UTF-8 (e.g. cp1252), tried instead of GBK: most cp1252 text (`Müller`)
    is also valid GBK, and would load as Chinese characters.
    """
    with gzip_errors(), open_bytes(path) as fh:
        head = fh.read(_SNIFF_BYTES)
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    if (without_mark := _utf16_without_mark(head)) is not None:
        return without_mark
    utf8_error = _invalid_at(head, "utf-8")
    if declared == "gb18030":
        if utf8_error is None and not head.isascii():
            raise FileRejected(
                "the name declares GBK, but the file is UTF-8 (decoding it as GBK would give mojibake): "
                "rename it without .gbk"
            )
        if (gbk_error := _invalid_at(head, "gb18030")) is not None:
            raise FileRejected(f"the name declares GBK, but the file is not valid GBK/GB18030 at byte {gbk_error}")
        return "gb18030"
    if declared == "utf-8" and utf8_error is not None:
        raise FileRejected(f"the name declares UTF-8, but the file is not valid UTF-8 at byte {utf8_error}")
    if utf8_error is None:
        return "utf-8"
    if otherwise is not None:
        if (error := _invalid_at(head, otherwise)) is not None:
            raise FileRejected(
                f"the file is neither UTF-8 (byte {utf8_error}) nor {otherwise}, the mapping's encoding (byte {error})"
            )
        return otherwise
    if _invalid_at(head, "gb18030") is None:
        if misread := _western_text_read_as_gbk(head):
            raise FileRejected(
                f"the file is not UTF-8, and read as GBK it looks like Western text: {misread}. Save it as "
                "UTF-8, or, for a company's export read through a mapping, give its encoding (`encoding: cp1252`)"
            )
        return "gb18030"
    if _utf8_with_a_few_gbk_lines(head, cut=len(head) == _SNIFF_BYTES):
        return "utf-8"  # its GBK lines are quarantined, each under its number (read.py, `_named_not_utf8`)
    raise FileRejected(
        f"the file is neither UTF-8 nor GBK/GB18030 at byte {utf8_error} (line {head[:utf8_error].count(10) + 1}): "
        "save it as UTF-8, or, for a company's export read through a mapping, give its encoding (`encoding: cp1252`)"
    )


def decoded(raw: bytes, encoding: str) -> str | None:
    """The bytes as the encoding reads them, or None when they are not valid in it (or it is unknown)."""
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def gbk_text(line: bytes) -> str | None:
    """The line as GBK reads it, when it is valid GBK and does not read like Western text, else None."""
    text = decoded(line, "gb18030")
    return None if text is None or _western_text_read_as_gbk(line) else text


def _utf8_with_a_few_gbk_lines(head: bytes, cut: bool) -> bool:
    """A UTF-8 file with a few lines in GBK: two exports joined into one file, one saved by Excel on
    a Chinese Windows, or a line pasted in from one. Its lines that are not UTF-8 are at most
    `ingest.max_share_of_lines_not_utf8` of the lines, and each is GBK text. The file as a whole
    fits neither encoding; read as UTF-8, those lines alone are quarantined, as they are past the
    first MiB. `cut`: the head ends mid-line (the last line is not judged)."""
    lines = head.split(b"\n")[: -1 if cut else None]
    bad = [line for line in lines if decoded(line, "utf-8") is None]
    share = float(warehouse_config("ingest")["max_share_of_lines_not_utf8"])
    return bool(bad) and len(bad) <= share * len(lines) and all(gbk_text(line) is not None for line in bad)


# What separates a CSV's fields: a comma, unless the header has none and splits on one of the others
# (Excel in a European locale saves with ";", some systems export tab- or pipe-separated ".csv").
DELIMITERS = (",", ";", "\t", "|")


def csv_delimiter(header_line: str) -> str:
    for delimiter in DELIMITERS:
        try:
            if len(next(csv.reader([header_line], delimiter=delimiter), [])) > 1:
                return delimiter
        except csv.Error:  # e.g. a field over csv's limit: the header's own read says so
            return ","
    return ","


def read_csv_header(path: Path, encoding: str, max_bytes: int, delimiter: str | None = None) -> tuple[list[str], str]:
    """The header row's fields and the file's delimiter (`csv_delimiter`, unless given), reading at most `max_bytes`
    (a bomb has no line break to stop at)."""
    with gzip_errors(), open_bytes(path) as fh:
        first = fh.readline(max_bytes + 1)
    if len(first) > max_bytes:
        raise FileRejected(f"the first line (the header) is longer than {max_bytes:,} bytes: not a header")
    text_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        line = first.decode(text_encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"header is not valid {encoding}: {exc}") from exc
    delimiter = delimiter or csv_delimiter(line.rstrip("\r\n"))
    try:
        rows = list(csv.reader(io.StringIO(line), delimiter=delimiter))
    except csv.Error as exc:
        raise FileRejected(f"header cannot be read: {exc}") from exc
    if not rows or not any(c.strip() for c in rows[0]):
        raise FileRejected("empty file: no header row")
    return rows[0], delimiter


def check_reserved(header: list[str]) -> None:
    for name in header:
        if name.lower() in RESERVED_COLUMNS:
            raise FileRejected(
                f"column {name!r} is reserved for the loader's own bookkeeping "
                f"({', '.join(sorted(RESERVED_COLUMNS))}): rename it in the export"
            )


@dataclass(frozen=True)
class LongLine:
    line: int  # physical line in the file (header = 1)
    length: int  # bytes, without the line break
    start: int  # byte span in the UTF-8 text, with the line break
    end: int
    head: str  # its first characters, kept in the quarantine

    def reason(self, limit: int) -> str:
        return (
            f"line of {self.length:,} bytes is longer than the maximum of {limit:,} (ingest.max_line_bytes); "
            f"raw_record keeps its first {HEAD_CHARS:,} characters"
        )


@dataclass(frozen=True)
class NulLine(LongLine):
    """A line holding NUL bytes: no text file has them; a damaged one does (a disk or transfer error,
    a crash that left zeros). Read, a NUL would stay inside a value, a key that matches nothing."""

    def reason(self, limit: int) -> str:
        return "the line holds NUL bytes (a damaged file?): not read as a record; raw_record shows them as \\0"


class _NextByte(enum.Enum):
    """Where the next chunk's first byte stands, as the chunk before it ended (_LineScanner)."""

    INSIDE_A_LINE = enum.auto()
    LINE_START = enum.auto()  # the chunk before ended with a line end
    AFTER_A_LEADING_QUOTE = enum.auto()  # ... with a quote that begins a line


@dataclass
class _LineScanner:
    """Finds lines longer than `limit`, lines holding NUL bytes, blank lines, line ends and quoted line
    breaks in a byte stream fed chunk by chunk (numpy: ~1 ms per MiB), and what the text's bytes show
    of its records: the bytes lines begin with (LineHeads) and TextFacts."""

    limit: int
    line: int = 1  # number of the line being read
    offset: int = 0  # of the next chunk in the stream
    line_start: int = 0  # of the line being read
    head: bytes = b""  # first bytes of the line being read
    long: list[LongLine] = field(default_factory=list)
    crlf: int = 0  # lines ending CR LF
    lf: int = 0  # lines ending LF alone
    last: int = -1  # the last byte fed so far
    nul_open: bool = False  # the line being read holds a NUL byte
    quotes: int = 0  # '"' bytes fed so far
    # A line ended after an odd number of quotes from the start: inside a quoted field (a line break
    # in a value), or after a stray quote. Quotes inside a field are doubled, so parity tells.
    quoted_line_breaks: bool = False
    breaks_in_quotes: int = 0  # line ends inside a quoted field so far
    # Blank lines outside quoted fields, which DuckDB skips without a row: (line, line as DuckDB
    # numbers it, which counts a line break inside a quoted field not at all). A CR alone is blank:
    # in a CR LF file it is the line end; in an LF file it makes one, and a file with both kinds of
    # line end is read (and scanned) from a copy with LF ends.
    blank: list[tuple[int, int]] = field(default_factory=list)
    empty_lines: bool = False  # any line without bytes but its line end, inside quotes or not
    # The bytes that begin the lines below the first (the header), and the bytes after a quote that
    # begins one: whether any row can be blank or the header again is known from them (LineHeads).
    first_bytes: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=bool))
    after_quote_bytes: np.ndarray = field(default_factory=lambda: np.zeros(256, dtype=bool))
    next_byte: _NextByte = _NextByte.INSIDE_A_LINE  # what the next chunk's first byte is
    # A CR not followed by LF: DuckDB ends a record there in a file of LF line ends, and the line
    # after it was not looked at (LineHeads unknown). The last chunk ended with a CR (`cr_open`).
    lone_cr: bool = False
    cr_open: bool = False
    # Whether a field may begin or end with a character DuckDB's trim removes (a space, or any
    # character of more than one byte: the Unicode spaces are), found from the bytes beside the
    # separator, quotes and line ends; unknown (True) without the separator. And whether "E+", as
    # Excel writes a long number, appears at all. The checks leave out what cannot be (TextFacts).
    delimiter: str | None = None
    padded: bool = False
    scientific: bool = False
    pad_open: bool = False  # the last byte fed may be trimmed, if a field ends with it
    # Whether the record facts above (LineHeads, TextFacts) are looked for: a scan for lines alone
    # (blank_lines_as_duckdb_numbers_them) leaves them out.
    record_facts: bool = True

    def __post_init__(self) -> None:
        # the bytes a field's edge sits beside: line ends, quotes and the separator (one byte; a
        # longer one, or none known, leaves the edges unknown: `_padded` says True). Built once:
        # the separator is the file's, set when the scanner is made and never after
        self._edge = np.zeros(256, dtype=bool)
        self._edge[[10, 13, 34]] = True
        if self.delimiter is not None and len(self.delimiter.encode()) == 1:
            self._edge[ord(self.delimiter)] = True

    def _found(self, line: int, length: int, head: bytes, start: int, end: int, kind: type = LongLine) -> None:
        text = head.decode("utf-8", errors="replace")[:HEAD_CHARS].replace("\0", "\\0")
        self.long.append(kind(line, length, start, end, text))

    def feed(self, chunk: bytes) -> None:
        data = np.frombuffer(chunk, dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        quotes = np.flatnonzero(data == 34)
        if self.record_facts:
            self._record_facts(chunk, data, ends)
        if len(ends):
            in_quotes = (self.quotes + np.searchsorted(quotes, ends)) % 2 == 1  # odd quotes before the end
            self.quoted_line_breaks = self.quoted_line_breaks or bool(np.any(in_quotes))
            before = np.where(ends > 0, data[np.maximum(ends - 1, 0)], self.last)
            crlf = int(np.count_nonzero(before == 13))
            self.crlf, self.lf = self.crlf + crlf, self.lf + len(ends) - crlf
        self.quotes += len(quotes)
        if len(data):
            self.last = int(data[-1])
        first_end = int(ends[0]) if len(ends) else len(chunk)
        if len(self.head) < _HEAD_BYTES:
            self.head += chunk[: min(first_end, _HEAD_BYTES - len(self.head))]
        if len(ends):
            starts = np.concatenate(([self.line_start - self.offset], ends[:-1] + 1))
            lengths = ends - starts
            self._blank_lines(lengths, before, in_quotes)
            for k in np.flatnonzero(lengths > self.limit):  # rare: a loop is fine
                start, end = int(starts[k]), int(ends[k])
                head = self.head if k == 0 else chunk[start : start + _HEAD_BYTES]
                self._found(self.line + int(k), int(lengths[k]), head, self.offset + start, self.offset + end + 1)
        nul_lines = set(np.searchsorted(ends, np.flatnonzero(data == 0)).tolist())  # a line's k: ends before
        if self.nul_open:
            nul_lines.add(0)
        for k in sorted(n for n in nul_lines if n < len(ends) and lengths[n] <= self.limit):  # rare
            start, end = int(starts[k]), int(ends[k])
            head = (self.head if k == 0 else chunk[start : min(end, start + _HEAD_BYTES)]).rstrip(b"\r")
            self._found(self.line + k, end - start, head, self.offset + start, self.offset + end + 1, NulLine)
        self.nul_open = len(ends) in nul_lines
        if len(ends):
            tail = int(ends[-1]) + 1
            self.line += len(ends)
            self.line_start = self.offset + tail
            self.head = chunk[tail : tail + _HEAD_BYTES]
        self.offset += len(chunk)

    def _record_facts(self, chunk: bytes, data: np.ndarray, ends: np.ndarray) -> None:
        self._line_heads(chunk, data, ends)
        # one byte is looked for at memchr's speed, two at a twentieth of it: most chunks have no "+"
        self.scientific = self.scientific or (
            b"+" in chunk and (b"E+" in chunk or (self.last == 69 and chunk[0] == 43))
        )
        if not self.padded and len(data):
            self.padded = self._padded(data, chunk.isascii())

    def _line_heads(self, chunk: bytes, data: np.ndarray, ends: np.ndarray) -> None:
        """Marks the first byte of each line below the first, and the byte after a quote that begins one."""
        if not len(data):
            return
        if self.cr_open and chunk[0] != 10:
            self.lone_cr = True
        if not self.lone_cr and b"\r" in chunk:  # rare but for CR LF files: count
            self.lone_cr = chunk.count(b"\r") - chunk.count(b"\r\n") > chunk.endswith(b"\r")
        self.cr_open = chunk.endswith(b"\r")
        starts = ends + 1
        if self.next_byte is _NextByte.LINE_START:
            starts = np.concatenate(([0], starts))
        elif self.next_byte is _NextByte.AFTER_A_LEADING_QUOTE:
            self.after_quote_bytes[data[0]] = True
        starts = starts[starts < len(data)]
        self.first_bytes[data[starts]] = True
        after = starts[data[starts] == 34] + 1
        self.after_quote_bytes[data[after[after < len(data)]]] = True
        if len(ends) and ends[-1] == len(data) - 1:
            self.next_byte = _NextByte.LINE_START
        elif len(after) and after[-1] == len(data):
            self.next_byte = _NextByte.AFTER_A_LEADING_QUOTE
        else:
            self.next_byte = _NextByte.INSIDE_A_LINE

    def _padded(self, data: np.ndarray, ascii_only: bool) -> bool:
        """Whether a byte that trim may remove sits beside a field's edge in this chunk (or across its start)."""
        if self.delimiter is None or len(self.delimiter.encode()) > 1:
            return True
        edge = self._edge
        if self.pad_open and edge[data[0]]:
            return True
        # in an ASCII chunk (most are; bytes.isascii is cheap) only a space can be trimmed
        trimmable = np.flatnonzero(data == 32 if ascii_only else (data == 32) | (data >= 128))
        self.pad_open = bool(len(trimmable)) and trimmable[-1] == len(data) - 1
        if not len(trimmable):
            return False
        before = data[np.maximum(trimmable - 1, 0)]
        if trimmable[0] == 0:  # the byte before it was fed before; none: the file begins with it
            before[0] = self.last if self.last >= 0 else 10
        after = data[np.minimum(trimmable + 1, len(data) - 1)]
        return bool(np.any(edge[before]) or np.any(edge[after[:-1] if self.pad_open else after]))

    def _blank_lines(self, lengths: np.ndarray, before: np.ndarray, in_quotes: np.ndarray) -> None:
        """Keeps the chunk's blank lines: no byte but the line end (a CR of a CR LF end counted as
        the line end), and not inside a quoted field (there it is part of a value)."""
        empty = (lengths == 0) | ((lengths == 1) & (before == 13))
        if np.any(empty):  # rare: a loop is fine
            self.empty_lines = True
            breaks_above = self.breaks_in_quotes + np.cumsum(in_quotes) - in_quotes
            for k in np.flatnonzero(empty & ~in_quotes):
                self.blank.append((self.line + int(k), self.line + int(k) - int(breaks_above[k])))
        self.breaks_in_quotes += int(np.count_nonzero(in_quotes))

    def finish(self) -> list[LongLine]:
        self.padded = self.padded or self.pad_open  # the file ends with it: the last field does
        length = self.offset - self.line_start
        if length > self.limit:
            self._found(self.line, length, self.head, self.line_start, self.offset)
        elif self.nul_open:
            self._found(self.line, length, self.head, self.line_start, self.offset, NulLine)
        return sorted(self.long, key=lambda ln: ln.line)


@dataclass(frozen=True)
class PreparedCsv:
    path: Path  # what DuckDB reads: UTF-8, every line within the limit, one kind of line end
    long_lines: list[LongLine]
    mixed_line_ends: bool = False  # CR LF and LF both: read with CR LF as LF
    quoted_line_breaks: bool = False  # a line may end inside a quoted field (_LineScanner)
    blank_lines: list[int] = field(default_factory=list)  # in the file; DuckDB skips them, without a row
    empty_lines: bool = False  # blank lines or empty lines inside quoted fields (_LineScanner)
    line_heads: LineHeads = field(default_factory=lambda: LineHeads())  # how its lines below the header begin
    text: TextFacts = field(default_factory=lambda: TextFacts())  # what its values may hold


@dataclass(frozen=True)
class TextFacts:
    """What the scan before the read found in a CSV file's text, so that the checks leave out what
    cannot apply to any of its values (True: may apply, or not known). `padded`: a field may begin or
    end with a character DuckDB's trim removes; `scientific`: "E+" appears (an id as Excel writes a
    long number)."""

    padded: bool = True
    scientific: bool = True

    def __or__(self, other: TextFacts) -> TextFacts:
        """The facts of two files' rows checked together."""
        return TextFacts(self.padded or other.padded, self.scientific or other.scientific)


_EVERY_BYTE = frozenset(range(256))


@dataclass(frozen=True)
class LineHeads:
    """The bytes that begin a file's lines below its header (`first`), and the bytes after a quote
    that begins one (`after_quote`). Every record begins a line, so a row whose first field reads
    as some text begins with its first byte, or with a quote, spaces or a byte order mark before it.
    Not known (the default, as for TextFacts): every byte may."""

    first: frozenset[int] = _EVERY_BYTE
    after_quote: frozenset[int] = _EVERY_BYTE


def _decoded_chunks(path: Path, encoding: str, limits: Limits) -> Iterator[bytes]:
    """The file's text as UTF-8 bytes, chunk by chunk; rejects a gzip bomb or an undecodable byte."""
    compressed = path.stat().st_size
    ceiling = max(limits.gzip_max_ratio * compressed, limits.gzip_bomb_min_bytes) if is_gzip(path) else None
    decoder = None if encoding == "utf-8" else codecs.getincrementaldecoder(encoding)(errors="strict")
    consumed = 0
    with gzip_errors(), open_bytes(path) as src:
        while chunk := src.read(_CHUNK):
            consumed += len(chunk)
            if ceiling is not None and consumed > ceiling:
                raise FileRejected(
                    f"gzip bomb: {compressed:,} bytes expand to more than {consumed:,} "
                    f"(over {limits.gzip_max_ratio:g} times; ingest.gzip_max_ratio)"
                )
            if decoder is None:
                yield chunk
                continue
            try:
                yield decoder.decode(chunk).encode("utf-8")
            except UnicodeDecodeError as exc:
                at = consumed - len(chunk) + exc.start
                raise FileRejected(f"not valid {encoding} at byte {at}: {exc.reason}") from exc
        if decoder is not None:
            yield decoder.decode(b"", final=True).encode("utf-8")


def utf8_copy(path: Path, encoding: str, target: Path, limits: Limits) -> Path:
    """The file's text written to `target` as UTF-8 (for a UTF-16 file, whose every line break and
    delimiter is two bytes: read as any UTF-8 file after this)."""
    with target.open("wb") as dst:
        for chunk in _decoded_chunks(path, encoding, limits):
            dst.write(chunk)
    return target


def cr_line_ends_only(path: Path, max_bytes: int) -> bool:
    """The file's lines end in CR alone (classic Mac OS; Excel for Mac's "CSV (Macintosh)"): read up to
    its first LF, as the header is, its first line holds a CR before its end."""
    with gzip_errors(), open_bytes(path) as fh:
        first = fh.readline(max_bytes + 1)
    return b"\r" in first.rstrip(b"\r\n")


def cr_to_lf_copy(path: Path, encoding: str, target: Path, limits: Limits) -> Path:
    """The file's text written to `target` as UTF-8 with each CR as LF: its lines and their numbers
    stay, and a CR inside a quoted field becomes a line break there too."""
    with target.open("wb") as dst:
        for chunk in _decoded_chunks(path, encoding, limits):
            dst.write(chunk.replace(b"\r", b"\n"))
    return target


def write_without(chunks: Iterator[bytes], spans: list[tuple[int, int]], target: Path) -> None:
    """Write the stream to `target` leaving out the byte spans (sorted, not overlapping)."""
    offset, spans_left = 0, list(spans)
    with target.open("wb") as dst:
        for chunk in chunks:
            position, end = 0, len(chunk)
            while spans_left and spans_left[0][0] < offset + end:
                start, stop = spans_left[0]
                dst.write(chunk[position : max(position, start - offset)])
                if stop > offset + end:
                    position = end
                    break
                position = stop - offset
                spans_left.pop(0)
            dst.write(chunk[position:end])
            offset += end


def _scan_writing(chunks: Iterator[bytes], scanner: _LineScanner, copy: Path, cap: int | None) -> Path | None:
    """Feed the chunks to the scanner, writing them to `copy` as they go; the copy, or None when it was
    given up. A copy with a `cap` (a gzip drop's, which only saves DuckDB inflating the file again) is
    given up past `cap` bytes or when the folder takes no more (a write, or the last flush, fails);
    one without (another encoding's: DuckDB reads only the decoded text) raises then."""
    dst = copy.open("wb")
    try:
        for chunk in chunks:
            scanner.feed(chunk)
            if dst.closed:  # given up
                continue
            try:
                dst.write(chunk)
                if cap is None or dst.tell() <= cap:
                    continue
            except OSError:
                if cap is None:
                    raise
            _give_up(dst, copy)
        if dst.closed:
            return None
        try:
            dst.close()  # writes what is still buffered: a small copy meets a full folder only here
            return copy
        except OSError:
            if cap is None:
                raise
            _give_up(dst, copy)
            return None
    finally:
        if not dst.closed:  # the chunks raised (a truncated gzip, a bomb, an undecodable byte)
            dst.close()


def _give_up(dst: BinaryIO, copy: Path) -> None:
    try:
        dst.close()  # a failed close has closed the file too
    except OSError:
        pass
    copy.unlink(missing_ok=True)


def prepare_csv(
    path: Path, encoding: str, workdir: Path | ScratchFolder, limits: Limits, delimiter: str | None = None
) -> PreparedCsv:
    """A UTF-8 CSV for DuckDB with no line over the limit, read in one pass over the file (two
    when a line is too long). A UTF-8 file without long lines is read as it is (`exact_read_path`),
    unless gzip: then from the inflated copy written in that pass. `delimiter`: the file's, when
    known (whether a field may hold spaces at its edges is found only then)."""
    scanner = _LineScanner(limits.max_line_bytes, delimiter=delimiter)
    # The text is written out as it is decoded when it is not the file's own bytes: another encoding,
    # or gzip, which DuckDB would inflate a second time, on one thread (the scan already inflates it).
    # A gzip copy stops at gzip_copy_max_mb, or when the scratch folder (the system's temp folder,
    # perhaps small or in memory) takes no more: DuckDB then reads the file itself, as before.
    copy = None if encoding == "utf-8" and not is_gzip(path) else workdir / "drop.csv"  # asked only when written
    chunks = _decoded_chunks(path, encoding, limits)
    if copy is None:
        for chunk in chunks:
            scanner.feed(chunk)
    else:
        copy = _scan_writing(chunks, scanner, copy, limits.gzip_copy_max_bytes if encoding == "utf-8" else None)
    long_lines = scanner.finish()
    if scanner.crlf and scanner.lf:
        # DuckDB's CSV reader stops on a file with both kinds of line end ("state machine reached an
        # invalid state"), as a file edited in two editors or appended to on another system has. Each
        # CR LF becomes LF: the lines and their numbers stay, and the copy is read as any UTF-8 file.
        normal = workdir / "drop_lf.csv"
        if copy is not None:
            copy.unlink(missing_ok=True)  # before the LF copy is written: one copy on disk at a time
        _crlf_to_lf(_decoded_chunks(path, encoding, limits), normal)
        (workdir / "lf").mkdir()
        inner = prepare_csv(normal, "utf-8", workdir / "lf", limits, delimiter)
        return dataclasses.replace(inner, mixed_line_ends=True)
    lines = {
        "quoted_line_breaks": scanner.quoted_line_breaks,
        "blank_lines": [line for line, _ in scanner.blank],
        "empty_lines": scanner.empty_lines,
        # a lone CR ends a record on a line the scan did not see begin: not known
        "line_heads": LineHeads()
        if scanner.lone_cr
        else LineHeads(
            frozenset(np.flatnonzero(scanner.first_bytes).tolist()),
            frozenset(np.flatnonzero(scanner.after_quote_bytes).tolist()),
        ),
        "text": TextFacts(padded=bool(scanner.padded), scientific=scanner.scientific),
    }
    if not long_lines:
        path = copy if copy is not None else exact_read_path(path, workdir)
        return PreparedCsv(path, [], **lines)
    spans = [(ln.start, ln.end) for ln in long_lines]
    filtered = workdir / "drop_filtered.csv"
    if copy is None:
        write_without(_decoded_chunks(path, encoding, limits), spans, filtered)
    else:
        with copy.open("rb") as src:
            write_without(iter(lambda: src.read(_CHUNK), b""), spans, filtered)
        copy.unlink()
    return PreparedCsv(filtered, long_lines, **lines)


def blank_lines_as_duckdb_numbers_them(path: Path) -> list[int]:
    """The blank lines of a UTF-8 file, numbered as DuckDB numbers lines: a line break inside a
    quoted field not counted. For a file with quoted line breaks and an empty line, scanned as
    DuckDB reads it: long lines and stray quotes cut out make its quotes pair as DuckDB sees them."""
    scanner = _LineScanner(limit=1 << 62, record_facts=False)
    with open_bytes(path) as fh:
        while chunk := fh.read(_CHUNK):
            scanner.feed(chunk)
    scanner.finish()
    return [duckdb_line for _, duckdb_line in scanner.blank]


def _crlf_to_lf(chunks: Iterator[bytes], target: Path) -> None:
    """Write the stream to `target` with each CR LF as LF (a CR elsewhere stays)."""
    carry = b""
    with target.open("wb") as dst:
        for chunk in chunks:
            data = carry + chunk
            data, carry = (data[:-1], b"\r") if data.endswith(b"\r") else (data, b"")
            dst.write(data.replace(b"\r\n", b"\n"))
        dst.write(carry)


class ScratchFolder:
    """A drop's scratch folder, made on the first path asked of it: most drops are read as they are
    and need none (making and removing one per drop was a tenth of reading a small company's ~500
    daily files). Use as a context manager; it removes what it made."""

    def __init__(self) -> None:
        self.made: Path | None = None

    def __truediv__(self, name: str) -> Path:
        if self.made is None:
            self.made = Path(tempfile.mkdtemp(prefix="s2s_read_"))
        return self.made / name

    def __enter__(self) -> ScratchFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.made is not None:
            shutil.rmtree(self.made, ignore_errors=True)


_GLOB_CHARACTERS = set("*?[]{}")


def exact_read_path(path: Path, workdir: Path | ScratchFolder) -> Path:
    """The file under a name DuckDB reads as exactly that file: its own absolute path when that holds
    no glob character and ends in the suffix DuckDB reads (lower case), else a link to it named so."""
    name = path.name.lower()
    suffix = ".csv.gz" if name.endswith(".csv.gz") else path.suffix.lower()
    absolute = path.absolute()
    if path.name.endswith(suffix) and not _GLOB_CHARACTERS & set(str(absolute)):
        return absolute
    link = workdir / f"drop{suffix}"
    link.symlink_to(absolute)
    return link


def scrub_paths(message: str, path: Path, relative_path: str, workdir: Path | ScratchFolder | None = None) -> str:
    """The message with every server path of the file replaced by its path relative to the raw folder
    (DuckDB and Python errors embed the path they were given)."""
    for absolute in sorted({str(path.absolute()), str(path.resolve())}, key=len, reverse=True):
        message = message.replace(absolute, relative_path)
    if isinstance(workdir, ScratchFolder):
        workdir = workdir.made
    if workdir is not None:
        for link in sorted(workdir.glob("*"), key=lambda p: len(str(p)), reverse=True):
            message = message.replace(str(link), relative_path)
        message = message.replace(str(workdir), "")
    return message
