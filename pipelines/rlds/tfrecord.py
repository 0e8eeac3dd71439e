"""TFRecord files without TensorFlow: record framing with masked CRC32C verification.

A record is ``length (uint64 LE) | masked crc32c(length) (uint32) | data | masked crc32c(data) (uint32)``.
A bad data checksum spoils only that record: it is yielded with ``error`` set and reading goes on.
A bad length checksum or a truncated record breaks the framing of everything after it, so it raises
``TFRecordError`` naming the file, the record number and its byte offset.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crc32c

__all__ = ["Record", "TFRecordError", "masked_crc32c", "read_records", "write_records"]

_MASK_DELTA = 0xA282EAD8


class TFRecordError(RuntimeError):
    def __init__(self, path: Path | str, record: int, offset: int, reason: str):
        self.path, self.record, self.offset, self.reason = str(path), record, offset, reason
        super().__init__(f"{path}: record {record} at byte {offset}: {reason}")


@dataclass(frozen=True)
class Record:
    index: int
    offset: int
    data: bytes
    error: str | None = None  # set when the data checksum does not match


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC32C: rotate right by 15 and add a constant."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def read_records(path: Path | str) -> Iterator[Record]:
    """Yield every record, verifying both checksums. A declared length is checked against the bytes the file
    has left before anything is allocated for it."""
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        index, offset = 0, 0
        while header := stream.read(12):
            if len(header) < 12:
                raise TFRecordError(path, index, offset, f"truncated header ({len(header)} of 12 bytes)")
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc32c(header[:8]) != length_crc:
                raise TFRecordError(path, index, offset, "length checksum mismatch (corrupt framing)")
            if length + 4 > size - offset - 12:
                raise TFRecordError(
                    path,
                    index,
                    offset,
                    f"record declares {length} bytes, the file has "
                    f"{max(0, size - offset - 16)} left (truncated or corrupt)",
                )
            data = stream.read(length)
            footer = stream.read(4)
            if len(data) < length or len(footer) < 4:
                raise TFRecordError(path, index, offset, f"truncated record (expected {length} bytes of data)")
            crc_ok = masked_crc32c(data) == struct.unpack("<I", footer)[0]
            yield Record(index, offset, data, None if crc_ok else "data checksum mismatch (bad CRC)")
            index, offset = index + 1, offset + 16 + length


def write_records(path: Path | str, payloads: list[bytes]) -> None:
    """Write payloads as TFRecords (used to build test shards of each dataset's structure)."""
    with open(path, "wb") as stream:
        for data in payloads:
            length = struct.pack("<Q", len(data))
            stream.write(
                length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))
            )
