import struct

import numpy as np
import pytest

from pipelines.rlds.tf_example import decode_example, encode_example
from pipelines.rlds.tfrecord import TFRecordError, masked_crc32c, read_records, write_records
from tests.conftest import BRIDGE_SHARD


def test_masked_crc32c_matches_what_tensorflow_wrote_in_the_real_bridge_shard():
    shard = next(BRIDGE_SHARD.glob("*.tfrecord-*"))
    header = shard.read_bytes()[:12]
    assert masked_crc32c(header[:8]) == struct.unpack("<I", header[8:])[0] == 0xA2CF1F8C


def test_records_round_trip(tmp_path):
    payloads = [b"", b"a", b"x" * 10_000]
    write_records(tmp_path / "r.tfrecord", payloads)
    records = list(read_records(tmp_path / "r.tfrecord"))
    assert [r.data for r in records] == payloads and all(r.error is None for r in records)
    assert [r.offset for r in records] == [0, 16, 33]


def test_bad_data_crc_spoils_only_that_record(tmp_path):
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"first", b"second", b"third"])
    raw = bytearray(path.read_bytes())
    raw[21 + 12] ^= 0xFF  # a byte inside record 1's data
    path.write_bytes(bytes(raw))
    records = list(read_records(path))
    assert [r.error is None for r in records] == [True, False, True]
    assert "bad CRC" in records[1].error and records[2].data == b"third"


def test_bad_length_crc_names_file_record_and_offset(tmp_path):
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"first", b"second"])
    raw = bytearray(path.read_bytes())
    raw[21 + 9] ^= 0x01  # record 1's length checksum
    path.write_bytes(bytes(raw))
    records = read_records(path)
    assert next(records).data == b"first"
    with pytest.raises(TFRecordError, match=r"r.tfrecord: record 1 at byte 21: length checksum mismatch"):
        next(records)


def test_truncated_record_is_reported(tmp_path):
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"first", b"second" * 100])
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(TFRecordError, match="record 1 .*truncated"):
        list(read_records(path))


def test_example_codec_round_trips_every_list_kind():
    features = {
        "steps/action": np.array([0.5, -1.25, 3.0], dtype=np.float32),
        "steps/is_first": np.array([1, 0, 0]),
        "big": np.array([-(2**40), 7, 2**62]),
        "text": [b"hello", b""],
    }
    decoded = decode_example(encode_example(features))
    np.testing.assert_array_equal(decoded["steps/action"], features["steps/action"])
    np.testing.assert_array_equal(decoded["big"], features["big"])
    assert decoded["text"] == features["text"] and decoded["steps/is_first"].dtype == np.int64


def test_a_huge_declared_length_is_refused_before_anything_is_allocated(tmp_path):
    path = tmp_path / "r.tfrecord"
    write_records(path, [b"first", b"second"])
    length = struct.pack("<Q", 2**62)  # a valid length checksum over an impossible length
    with open(path, "ab") as stream:
        stream.write(length + struct.pack("<I", masked_crc32c(length)) + b"tail")
    records = read_records(path)
    assert [next(records).data, next(records).data] == [b"first", b"second"]
    with pytest.raises(
        TFRecordError, match=r"record 2 at byte 43: record declares 4611686018427387904 bytes, the file has 0 left"
    ):
        next(records)
