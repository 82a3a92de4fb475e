"""How RDD elements travel to a node (docs/spark.md, "Feed client stdin" and "Tuple records").

str -> "text" records (UTF-8), bytes -> "bytes" records, tuple/list/numpy array -> "tuple"
records. Elements are packed into blocks written to the feed client's stdin:

    u8 kind | u32 count | u32 nbytes | payload        (little-endian)
    kind b'L': count records, each u32 length | bytes
    kind b'N': count records joined by b'\\n' (used when no record holds a newline)
    kind b'E': end of partition (count = nbytes = 0)
"""

import array
import struct

_HEADER = struct.Struct("<cII")
_U32 = struct.Struct("<I")
BLOCK_BYTES = 1 << 20
BLOCK_RECORDS = 8192

# Tuple field types (include/tos/tuple_record.h).
UINT8, INT32, INT64, FLOAT32, FLOAT64, STRING, BYTES = 1, 2, 3, 4, 5, 6, 7
_NUMPY_TYPES = {"uint8": UINT8, "int32": INT32, "int64": INT64, "float32": FLOAT32, "float64": FLOAT64}
_ARRAY_CODES = {UINT8: "B", INT32: "i", INT64: "q", FLOAT32: "f", FLOAT64: "d"}


def encoding_of(element):
    """The feed encoding for an RDD element: "text", "bytes" or "tuple"."""
    if isinstance(element, str):
        return "text"
    if isinstance(element, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(element, (tuple, list)) or _is_ndarray(element):
        return "tuple"
    raise TypeError(
        "torchonspark feeds RDD elements that are str, bytes, or tuples/lists of numbers, "
        "strings or numpy arrays; got %s" % type(element).__name__)


def _is_ndarray(x):
    return type(x).__module__ == "numpy" and type(x).__name__ == "ndarray"


def _field(value):
    """One tuple field as bytes."""
    if isinstance(value, bool):
        return struct.pack("<BIq", INT64, 1, int(value))
    if isinstance(value, int):
        return struct.pack("<BIq", INT64, 1, value)
    if isinstance(value, float):
        return struct.pack("<BId", FLOAT64, 1, value)
    if isinstance(value, str):
        b = value.encode("utf-8")
        return struct.pack("<BI", STRING, len(b)) + b
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return struct.pack("<BI", BYTES, len(b)) + b
    if _is_ndarray(value) or type(value).__module__ == "numpy":
        import numpy as np
        a = np.asarray(value)
        t = _NUMPY_TYPES.get(a.dtype.name)
        if t is None:
            if a.dtype.kind == "b":
                a, t = a.astype("uint8"), UINT8
            elif a.dtype.kind in "iu":
                a, t = a.astype("int64"), INT64
            elif a.dtype.kind == "f":
                a, t = a.astype("float64"), FLOAT64
            else:
                raise TypeError("numpy dtype %s cannot be fed; use a numeric dtype" % a.dtype)
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        return struct.pack("<BI", t, a.size) + a.tobytes()
    if isinstance(value, (list, tuple)):
        try:
            arr = array.array("q", value)
            t = INT64
        except (TypeError, OverflowError):
            try:
                arr = array.array("d", value)
                t = FLOAT64
            except TypeError:
                raise TypeError("a list inside a fed tuple must hold only numbers; got %r" % (value[:5],))
        return struct.pack("<BI", t, len(arr)) + arr.tobytes()
    raise TypeError("cannot feed a %s inside a tuple" % type(value).__name__)


def encode_tuple(element):
    """A "tuple" record: a tuple/list of fields, or one array/list of numbers (one field)."""
    if _is_ndarray(element):
        return _U32.pack(1) + _field(element)
    if isinstance(element, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in element[:8]):
        try:
            return _U32.pack(1) + _field(element)
        except TypeError:
            pass
    parts = [_U32.pack(len(element))]
    parts.extend(_field(v) for v in element)
    return b"".join(parts)


def _length_prefixed(records):
    out = bytearray()
    for r in records:
        out += _U32.pack(len(r))
        out += r
    return _HEADER.pack(b"L", len(records), len(out)) + bytes(out)


def blocks(first, iterator, encoding):
    """Yields stdin blocks for `first` followed by the rest of `iterator`, then the end block.

    Every element must have the encoding of the first one (TypeError names the index)."""
    index = 0
    batch = [first]
    size = 0

    def check(e):
        if encoding_of(e) != encoding:
            raise TypeError("element %d of the partition is a %s, but the partition started with %s records; "
                            "feed one kind per RDD" % (index, type(e).__name__, encoding))

    if encoding == "text":
        size = len(first)
        for e in iterator:
            index += 1
            if type(e) is not str:
                check(e)
            batch.append(e)
            size += len(e)
            if size >= BLOCK_BYTES or len(batch) >= BLOCK_RECORDS:
                yield _text_block(batch)
                batch, size = [], 0
        if batch:
            yield _text_block(batch)
    elif encoding == "bytes":
        batch = [bytes(first)]
        size = len(first)
        for e in iterator:
            index += 1
            if type(e) is not bytes:
                check(e)
                e = bytes(e)
            batch.append(e)
            size += len(e)
            if size >= BLOCK_BYTES or len(batch) >= BLOCK_RECORDS:
                yield _length_prefixed(batch)
                batch, size = [], 0
        if batch:
            yield _length_prefixed(batch)
    else:
        batch = [encode_tuple(first)]
        size = len(batch[0])
        for e in iterator:
            index += 1
            check(e)
            r = encode_tuple(e)
            batch.append(r)
            size += len(r)
            if size >= BLOCK_BYTES or len(batch) >= BLOCK_RECORDS:
                yield _length_prefixed(batch)
                batch, size = [], 0
        if batch:
            yield _length_prefixed(batch)
    yield end_block()


def _text_block(lines):
    joined = "\n".join(lines)
    if joined.count("\n") != len(lines) - 1:  # some record holds a newline
        return _length_prefixed([s.encode("utf-8") for s in lines])
    data = joined.encode("utf-8")
    return _HEADER.pack(b"N", len(lines), len(data)) + data


def one_record_header(nbytes):
    """The header of a block holding one record of nbytes (the record follows it)."""
    return _HEADER.pack(b"L", 1, 4 + nbytes) + _U32.pack(nbytes)


def end_block():
    return _HEADER.pack(b"E", 0, 0)


def read_messages(stream):
    """Messages of the feed client's stdout: (type, payload) with type b'R' (results) or b'S'."""
    while True:
        header = stream.read(5)
        if not header:
            return
        if len(header) < 5:
            raise IOError("feed client output truncated")
        kind, n = header[:1], _U32.unpack(header[1:])[0]
        payload = stream.read(n)
        if len(payload) < n:
            raise IOError("feed client output truncated")
        yield kind, payload


def encode(element, encoding):
    """One element as a record of `encoding` (what blocks() sends, without the framing)."""
    if encoding_of(element) != encoding:
        raise TypeError("a %s element among %s records; feed one kind of element" % (type(element).__name__, encoding))
    if encoding == "text":
        return element.encode("utf-8")
    if encoding == "bytes":
        return bytes(element)
    return encode_tuple(element)
