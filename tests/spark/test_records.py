"""How RDD elements are encoded for the feed client (no Spark needed)."""

import struct

import numpy as np
import pytest

from torchonspark import records

pytestmark = pytest.mark.timeout(30)


def parse_blocks(data):
    out, pos = [], 0
    while pos < len(data):
        kind, count, nbytes = struct.unpack_from("<cII", data, pos)
        pos += 9
        payload = data[pos:pos + nbytes]
        pos += nbytes
        if kind == b"E":
            out.append(("E", []))
        elif kind == b"N":
            out.append(("N", payload.split(b"\n")))
        else:
            recs, p = [], 0
            for _ in range(count):
                (n,) = struct.unpack_from("<I", payload, p)
                recs.append(payload[p + 4:p + 4 + n])
                p += 4 + n
            out.append(("L", recs))
    return out


def test_text_lines_are_newline_joined_unless_one_holds_a_newline():
    blocks = parse_blocks(b"".join(records.blocks("a,1", iter(["b,2", "é"]), "text")))
    assert blocks == [("N", [b"a,1", b"b,2", "é".encode()]), ("E", [])]
    blocks = parse_blocks(b"".join(records.blocks("x", iter(["two\nlines"]), "text")))
    assert blocks[0] == ("L", [b"x", b"two\nlines"])


def test_large_partitions_are_split_into_blocks():
    data = b"".join(records.blocks(b"0" * 100, iter([b"1" * 100] * 20000), "bytes"))
    blocks = parse_blocks(data)
    assert len(blocks) > 2 and sum(len(r) for _, r in blocks) == 20001


def test_tuple_of_arrays_and_numbers():
    rec = records.encode_tuple((np.arange(3, dtype=np.uint8), 7, 2.5, np.array([1.5], dtype=np.float32)))
    assert struct.unpack_from("<I", rec)[0] == 4
    assert rec[4:9] == struct.pack("<BI", records.UINT8, 3) and rec[9:12] == b"\x00\x01\x02"
    assert struct.pack("<BIq", records.INT64, 1, 7) in rec
    assert struct.pack("<BId", records.FLOAT64, 1, 2.5) in rec
    assert struct.pack("<BIf", records.FLOAT32, 1, 1.5) in rec


def test_lists_of_numbers_become_one_field():
    assert records.encode_tuple([1, 2]) == struct.pack("<IBIqq", 1, records.INT64, 2, 1, 2)
    assert records.encode_tuple([1, 2.5]) == struct.pack("<IBIdd", 1, records.FLOAT64, 2, 1.0, 2.5)
    two = records.encode_tuple([[1, 2], [0.5]])  # a list of lists: one field each
    assert struct.unpack_from("<I", two)[0] == 2


def test_unsupported_elements_are_refused():
    with pytest.raises(TypeError, match="str, bytes, or tuples"):
        records.encoding_of({"a": 1})
    with pytest.raises(TypeError, match="element 2 of the partition is a bytes"):
        b"".join(records.blocks("a", iter(["b", b"c"]), "text"))
    with pytest.raises(TypeError, match="numpy dtype"):
        records.encode_tuple((np.array(["x"], dtype=object),))
