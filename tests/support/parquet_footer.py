"""Rewrites the row counts or sizes a Parquet footer declares, to make files that lie about their
size.

The footer is Thrift's compact protocol (parquet-format's FileMetaData). It is decoded here into
a tree of (field id, type, value), changed, and encoded again; the footer's length before the
closing `PAR1` is rewritten with it. Only what the corpus needs: no schema of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)
FILE_NUM_ROWS, FILE_ROW_GROUPS, GROUP_NUM_ROWS = 3, 4, 3
GROUP_COLUMNS, GROUP_TOTAL_BYTE_SIZE, CHUNK_META_DATA, META_TOTAL_UNCOMPRESSED_SIZE = 1, 2, 3, 6

Field = tuple[int, int, Any]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        self.at += 1
        return self.data[self.at - 1]

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def value(self, kind: int) -> Any:
        if kind in (TRUE, FALSE):
            return kind == TRUE
        if kind == BYTE:
            return self.byte()
        if kind in (I16, I32, I64):
            return self.zigzag()
        if kind == DOUBLE:
            self.at += 8
            return self.data[self.at - 8 : self.at]
        if kind == BINARY:
            length = self.varint()
            self.at += length
            return self.data[self.at - length : self.at]
        if kind in (LIST, SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            items = [
                self.byte() == TRUE if element in (TRUE, FALSE) else self.value(element)
                for _ in range(size)
            ]
            return (element, items)
        if kind == MAP:
            size = self.varint()
            types = self.byte() if size else 0
            pairs = [(self.value(types >> 4), self.value(types & 0x0F)) for _ in range(size)]
            return (types, pairs)
        if kind == STRUCT:
            return self.struct()
        raise ValueError(f"unknown compact type {kind}")

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while True:
            header = self.byte()
            if header == STOP:
                return fields
            delta, kind = header >> 4, header & 0x0F
            field_id = last + delta if delta else self.zigzag()
            fields.append((field_id, kind, self.value(kind)))
            last = field_id


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        while value > 0x7F:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def zigzag(self, value: int) -> None:
        self.varint((value << 1) ^ (value >> 63))

    def value(self, kind: int, value: Any) -> None:
        if kind in (TRUE, FALSE):
            return
        if kind == BYTE:
            self.out.append(value)
        elif kind in (I16, I32, I64):
            self.zigzag(value)
        elif kind == DOUBLE:
            self.out += value
        elif kind == BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (LIST, SET):
            element, items = value
            if len(items) < 15:
                self.out.append((len(items) << 4) | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            for item in items:
                if element in (TRUE, FALSE):
                    self.out.append(TRUE if item else FALSE)
                else:
                    self.value(element, item)
        elif kind == MAP:
            types, pairs = value
            self.varint(len(pairs))
            if pairs:
                self.out.append(types)
            for key, item in pairs:
                self.value(types >> 4, key)
                self.value(types & 0x0F, item)
        elif kind == STRUCT:
            self.struct(value)

    def struct(self, fields: list[Field]) -> None:
        last = 0
        for field_id, kind, value in fields:
            written_kind = (TRUE if value else FALSE) if kind in (TRUE, FALSE) else kind
            if 0 < field_id - last <= 15:
                self.out.append(((field_id - last) << 4) | written_kind)
            else:
                self.out.append(written_kind)
                self.zigzag(field_id)
            self.value(kind, value)
            last = field_id
        self.out.append(STOP)


def _replace(fields: list[Field], field_id: int, value: Any) -> list[Field]:
    return [(fid, kind, value if fid == field_id else old) for fid, kind, old in fields]


def declare_rows(path: Path, rows: int) -> None:
    """Makes the footer of the Parquet file at `path` declare `rows` rows, in the file and in
    each of its row groups; the data pages are left as they are."""
    metadata = _read_footer(path)
    metadata = _replace(metadata, FILE_NUM_ROWS, rows * _row_groups(metadata))
    groups = next(value for fid, _, value in metadata if fid == FILE_ROW_GROUPS)
    element, items = groups
    groups = (element, [_replace(group, GROUP_NUM_ROWS, rows) for group in items])
    metadata = _replace(metadata, FILE_ROW_GROUPS, groups)
    _write_footer(path, metadata)


def declare_uncompressed_bytes(path: Path, size: int) -> None:
    """Makes the footer of the Parquet file at `path` declare `size` uncompressed bytes for
    every column chunk and row group; the data pages (and their own headers) are left as they
    are."""
    metadata = _read_footer(path)
    element, items = next(value for fid, _, value in metadata if fid == FILE_ROW_GROUPS)
    groups = []
    for group in items:
        chunk_element, chunks = next(value for fid, _, value in group if fid == GROUP_COLUMNS)
        chunks = [
            [
                (fid, kind, _replace(value, META_TOTAL_UNCOMPRESSED_SIZE, size))
                if fid == CHUNK_META_DATA
                else (fid, kind, value)
                for fid, kind, value in chunk
            ]
            for chunk in chunks
        ]
        group = _replace(group, GROUP_COLUMNS, (chunk_element, chunks))
        groups.append(_replace(group, GROUP_TOTAL_BYTE_SIZE, size * len(chunks)))
    _write_footer(path, _replace(metadata, FILE_ROW_GROUPS, (element, groups)))


def _read_footer(path: Path) -> list[Field]:
    content = path.read_bytes()
    length = int.from_bytes(content[-8:-4], "little")
    return _Reader(content[-8 - length : -8]).struct()


def _write_footer(path: Path, metadata: list[Field]) -> None:
    content = path.read_bytes()
    length = int.from_bytes(content[-8:-4], "little")
    writer = _Writer()
    writer.struct(metadata)
    encoded = bytes(writer.out)
    path.write_bytes(
        content[: -8 - length] + encoded + len(encoded).to_bytes(4, "little") + b"PAR1"
    )


def _row_groups(metadata: list[Field]) -> int:
    return len(next(value for fid, _, value in metadata if fid == FILE_ROW_GROUPS)[1])
