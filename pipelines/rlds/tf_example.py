"""Decode and encode ``tf.train.Example`` protobufs by hand (no TensorFlow, no generated code).

Wire format (proto3)::

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }     // entry: { string key = 1; Feature value = 2; }
    Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }

Float and int64 lists may be packed or not; both are accepted.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["ExampleDecodeError", "decode_example", "encode_example"]

Value = list[bytes] | np.ndarray


class ExampleDecodeError(ValueError):
    pass


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if position >= len(buffer):
            raise ExampleDecodeError("truncated varint")
        byte = buffer[position]
        result |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(buffer: bytes):
    """Yield (field number, wire type, value) where value is bytes (length-delimited) or int."""
    position = 0
    while position < len(buffer):
        tag, position = _varint(buffer, position)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(buffer, position)
        elif wire == 2:
            length, position = _varint(buffer, position)
            value = buffer[position : position + length]
            if len(value) < length:
                raise ExampleDecodeError(f"field {field}: truncated ({len(value)} of {length} bytes)")
            position += length
        elif wire == 5:
            value, position = struct.unpack_from("<I", buffer, position)[0], position + 4
        elif wire == 1:
            value, position = struct.unpack_from("<Q", buffer, position)[0], position + 8
        else:
            raise ExampleDecodeError(f"field {field}: unsupported wire type {wire}")
        yield field, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_feature(buffer: bytes) -> Value:
    for kind, _, payload in _fields(buffer):
        if kind == 1:  # BytesList
            return [value for _, _, value in _fields(payload)]
        if kind == 2:  # FloatList
            floats = bytearray()
            for _, wire, value in _fields(payload):
                floats += value if wire == 2 else struct.pack("<I", value)
            return np.frombuffer(bytes(floats), dtype="<f4").copy()
        if kind == 3:  # Int64List
            ints: list[int] = []
            for _, wire, value in _fields(payload):
                if wire == 2:
                    position = 0
                    while position < len(value):
                        item, position = _varint(value, position)
                        ints.append(_signed(item))
                else:
                    ints.append(_signed(value))
            return np.asarray(ints, dtype=np.int64)
    return np.zeros(0, dtype=np.float32)  # a Feature with no list set is an empty value


def decode_example(record: bytes) -> dict[str, Value]:
    """Feature name -> list of bytes (BytesList) or a 1-D float32/int64 array."""
    features: dict[str, Value] = {}
    for field, _, features_message in _fields(record):
        if field != 1:
            continue
        for entry_field, _, entry in _fields(features_message):
            if entry_field != 1:
                continue
            key, value = "", b""
            for item_field, _, item in _fields(entry):
                if item_field == 1:
                    key = item.decode("utf-8")
                elif item_field == 2:
                    value = item
            features[key] = _decode_feature(value)
    return features


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | 2) + _encode_varint(len(payload)) + payload


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_example(features: dict[str, Value]) -> bytes:
    """Inverse of ``decode_example`` (packed lists), for building test shards."""
    entries = b""
    for key, value in features.items():
        if isinstance(value, list):
            feature = _length_delimited(1, b"".join(_length_delimited(1, v) for v in value))
        elif np.issubdtype(np.asarray(value).dtype, np.floating):
            feature = _length_delimited(2, _length_delimited(1, np.asarray(value, dtype="<f4").tobytes()))
        else:
            packed = b"".join(_encode_varint(int(v)) for v in np.asarray(value).ravel())
            feature = _length_delimited(3, _length_delimited(1, packed))
        entries += _length_delimited(1, _length_delimited(1, key.encode()) + _length_delimited(2, feature))
    return _length_delimited(1, entries)
