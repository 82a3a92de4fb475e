"""DataFrame rows as columns, on both sides of a feed.

Spark side (in Spark's Python workers, under DataFrame.mapInArrow): record batches go to the
node as Arrow IPC streams, their bytes unchanged, one feed record per slice of about a
megabyte; no Python object per row. Node side (Python training functions): ColumnFeed reads
those records back into NumPy columns, the same rules as the C++ tos::ColumnFeed
(include/tos/columns.h): nulls and unexpected schemas are refused with names, inference results
go back as one Arrow batch per record. Protocol: docs/spark.md, "DataFrames".
"""

import json

PIECE_BYTES = 1 << 20  # rows per feed record: about this many bytes (bounded node memory)


def _pa():
    try:
        import pyarrow
    except ImportError as e:  # pragma: no cover - the set-up installs it
        raise ImportError("DataFrame feeds need pyarrow on every executor and node "
                          "(scripts/venv_setup.sh installs it): %s" % e)
    return pyarrow


def ipc_bytes(batch):
    """One record batch as an Arrow IPC stream (schema, batch, end)."""
    pa = _pa()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def feed_records(batches, partition, keep=None, result=None):
    """Yields (rows, Arrow IPC buffer) for each slice of Spark's record batches, with the
    partition, the slice's first row and (inference) the columns to send back in the schema's
    metadata."""
    row = 0
    meta = {"tos.partition": str(partition)}
    if keep is not None:
        meta["tos.keep"] = json.dumps(list(keep))
    if result is not None:
        meta["tos.result"] = result
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        per_row = max(1, batch.nbytes // n)
        step = max(1, PIECE_BYTES // per_row)
        for start in range(0, n, step):
            piece = batch.slice(start, min(step, n - start))
            m = dict(meta)
            m["tos.row"] = str(row + start)
            yield piece.num_rows, ipc_bytes(piece.replace_schema_metadata(m))
        row += n


def read_record(record):
    pa = _pa()
    reader = pa.ipc.open_stream(pa.py_buffer(record))
    batches = list(reader)
    if len(batches) != 1:
        raise ValueError("a feed record holds %d Arrow batches, not one" % len(batches))
    return batches[0]


def _schema_text(schema):
    return ", ".join("%s: %s" % (f.name, f.type) for f in schema)


def _where(batch, row):
    md = batch.schema.metadata or {}
    part = md.get(b"tos.partition", b"?").decode()
    first = int(md.get(b"tos.row", b"0"))
    return "row %d of Spark partition %s" % (first + row, part)


def column_to_numpy(col):
    """A column as NumPy without a copy where the layout allows: numbers [n]; fixed-size lists,
    and lists or binary whose rows all have one length, [n, width]; strings a list of str; lists
    of varying length an object array of arrays."""
    import numpy as np
    pa = _pa()
    t = col.type
    n = len(col)
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        if pa.types.is_fixed_size_binary(t):
            w = t.byte_width
            return np.frombuffer(col.buffers()[1], np.uint8, n * w, col.offset * w).reshape(n, w)
        offsets = np.frombuffer(col.buffers()[1], np.int32, n + 1, col.offset * 4)
        widths = np.diff(offsets)
        if n and (widths == widths[0]).all():
            w = int(widths[0])
            data = col.buffers()[2]
            return np.frombuffer(data, np.uint8, n * w, int(offsets[0])).reshape(n, w) if w else \
                np.zeros((n, 0), np.uint8)
        return col.to_pylist()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.to_pylist()
    if pa.types.is_fixed_size_list(t):
        return col.flatten().to_numpy().reshape(n, t.list_size)
    if pa.types.is_list(t):
        offsets = col.offsets.to_numpy()
        widths = np.diff(offsets)
        if n and (widths == widths[0]).all():
            return col.flatten().to_numpy().reshape(n, int(widths[0]))
        return col.to_numpy(zero_copy_only=False)
    return col.to_numpy()


def _take_rows(pending, batch_size, fetch, spans=lambda: True):
    """Up to batch_size rows from `pending` ([batch, position] entries), calling fetch() (which
    appends an entry, or returns False at the end) when it runs dry; while spans() is false (an
    inference feed, known once its first record came) a batch never crosses entries and an
    exhausted entry stays until it is answered. A batch that crosses entries is the only copy. Returns
    (pyarrow.RecordBatch or None, rows)."""
    pa = _pa()
    parts, got = [], 0
    while got < batch_size:
        if pending and pending[0][0].num_rows == pending[0][1] and spans():
            pending.pop(0)
        if not pending and not fetch():
            break
        entry = pending[0]
        take = min(batch_size - got, entry[0].num_rows - entry[1])
        parts.append(entry[0].slice(entry[1], take))
        entry[1] += take
        got += take
        if not spans():
            break
    if not parts:
        return None, 0
    if len(parts) == 1:
        return parts[0], got
    joined = pa.Table.from_batches([p.replace_schema_metadata(None) for p in parts])
    return joined.combine_chunks().to_batches()[0], got


class ColumnFeed(object):
    """Rows of a DataFrame feed, in batches of the size the training function asks for.

    `expect` is a list of (name, Arrow type name) pairs, e.g. [("image", "binary"),
    ("label", "int32")]; a record with other columns is refused naming both schemas."""

    def __init__(self, feed, expect=None):
        self._feed = feed
        self._expect = [(n, str(t)) for n, t in (expect or [])]
        self._pending = []  # [batch, position]
        self._ended = False
        self._inference = False
        self._rows_out = 0
        self._answered = 0
        self._results = []
        self.rows_consumed = 0

    def _check(self, batch):
        if self._expect:
            got = [(f.name, str(f.type)) for f in batch.schema]
            if not all(e in got for e in self._expect):
                raise ValueError(
                    "feed '%s': the rows of Spark partition %s have the columns (%s); this program "
                    "expects (%s): select or cast the DataFrame's columns to match"
                    % (self._feed.name, (batch.schema.metadata or {}).get(b"tos.partition", b"?").decode(),
                       _schema_text(batch.schema), ", ".join("%s: %s" % e for e in self._expect)))
        for i, col in enumerate(batch.columns):
            if col.null_count:
                row = next(j for j in range(len(col)) if not col[j].is_valid)
                raise ValueError("feed '%s': column '%s' is null in %s: fill or drop nulls before "
                                 "training (DataFrame.na.fill / na.drop)"
                                 % (self._feed.name, batch.schema[i].name, _where(batch, row)))

    def _fetch(self):
        if self._ended:
            return False
        records, encoding, self._inference = self._feed._next_records(1)
        if not records:
            self._ended = True
            return False
        record = records[0]
        if encoding != "arrow":
            raise ValueError("feed '%s' carries %s records, not Arrow batches: feed a DataFrame, "
                             "or read it with DataFeed.next_batch" % (self._feed.name, encoding))
        try:
            batch = read_record(record)
        except Exception as e:
            raise ValueError("feed '%s': a record of %d bytes is not an Arrow IPC stream: %s"
                             % (self._feed.name, len(record), e))
        self._check(batch)
        self._pending.append([batch, 0])
        if self._inference and batch.num_rows == 0:
            self._send()
            return self._fetch()
        return True

    def next_batch_arrow(self, batch_size):
        """Up to batch_size rows as one pyarrow.RecordBatch (None when the feed is over).
        Training: batches span records; inference: they never do."""
        if self._rows_out:
            raise ValueError("feed '%s': next_batch() called before batch_results() returned the %d "
                             "results of the previous inference batch" % (self._feed.name, self._rows_out))
        batch, got = _take_rows(self._pending, batch_size, self._fetch, lambda: not self._inference)
        self.rows_consumed += got
        if self._inference:
            self._rows_out = got
        return batch

    def next_batch(self, batch_size):
        """Up to batch_size rows as a dict of NumPy columns (see column_to_numpy); an empty
        dict when the feed is over."""
        batch = self.next_batch_arrow(batch_size)
        if batch is None:
            return {}
        return {f.name: column_to_numpy(c) for f, c in zip(batch.schema, batch.columns)}

    def should_stop(self):
        if any(b.num_rows > pos for b, pos in self._pending):
            return False
        return self._feed.should_stop()

    def batch_results(self, results):
        """Inference: one result per row of the last batch (a NumPy array or a list)."""
        pa = _pa()
        if not self._inference or not self._pending:
            raise ValueError("feed '%s': batch_results() without an inference batch to answer" % self._feed.name)
        values = pa.array(results)
        if len(values) != self._rows_out:
            raise ValueError("feed '%s': batch_results() got %d results for a batch of %d rows; give "
                             "one per row" % (self._feed.name, len(values), self._rows_out))
        self._results.append(values)
        self._answered += self._rows_out
        self._rows_out = 0
        if self._answered == self._pending[0][0].num_rows:
            self._send()

    def _send(self):
        pa = _pa()
        batch = self._pending.pop(0)[0]
        md = batch.schema.metadata or {}
        keep = json.loads(md[b"tos.keep"]) if b"tos.keep" in md else batch.schema.names
        name = md.get(b"tos.result", b"prediction").decode()
        arrays = [batch.column(batch.schema.get_field_index(k)) for k in keep if k]
        names = [k for k in keep if k]
        if self._results:
            result = pa.concat_arrays(self._results) if len(self._results) > 1 else self._results[0]
        else:
            result = pa.array([], pa.int64())
        out = pa.RecordBatch.from_arrays(arrays + [result], names=names + [name])
        self._results = []
        self._answered = 0
        self._feed._send_results([ipc_bytes(out).to_pybytes()])


class ParquetShard(object):
    """Direct mode on a Parquet dataset (Spark SQL's part-NNNNN-*.parquet and _SUCCESS), on any
    file system the runtime serves: this trainer's row groups (global row group g belongs to
    shard g % num_shards), in order, the same rules as the C++ tos::ParquetShard. Each part is
    read whole through the runtime's file systems, one at a time."""

    def __init__(self, path, shard_index, num_shards, columns=None, epochs=1, allow_incomplete=False):
        from . import _native
        self._native = _native.load()
        self._parts = self._native.list_parts(path, bool(allow_incomplete))
        self._shard, self._shards = int(shard_index), int(num_shards)
        self._columns = list(columns) if columns else None
        self._epochs = int(epochs)
        self._ready = []  # [batch, position]
        self._next = self._groups()

    def _groups(self):
        pa = _pa()
        import pyarrow.parquet as pq
        for _ in range(self._epochs):
            first = 0
            for uri in self._parts:
                try:
                    f = pq.ParquetFile(pa.BufferReader(self._native.read_file(uri)))
                except pa.ArrowInvalid as e:
                    raise ValueError("%s: not a Parquet file: %s" % (uri, e))
                missing = [c for c in (self._columns or []) if c not in f.schema_arrow.names]
                if missing:
                    raise ValueError("%s has no column %s (it has %s)"
                                     % (uri, ", ".join(missing), _schema_text(f.schema_arrow)))
                for g in range(f.num_row_groups):
                    if (first + g) % self._shards != self._shard:
                        continue
                    table = f.read_row_group(g, columns=self._columns).combine_chunks()
                    for i, col in enumerate(table.columns):
                        if col.null_count:
                            raise ValueError("%s: column '%s' is null in row group %d: fill or drop nulls "
                                             "before training" % (uri, table.schema[i].name, g))
                    for batch in table.to_batches():
                        yield batch
                first += f.num_row_groups

    def next_batch_arrow(self, batch_size):
        """Up to batch_size rows as a pyarrow.RecordBatch (spanning row groups); None at the end."""
        return _take_rows(self._ready, batch_size, self._fetch)[0]

    def _fetch(self):
        batch = next(self._next, None)
        if batch is None:
            return False
        self._ready.append([batch, 0])
        return True

    def next_batch(self, batch_size):
        """Up to batch_size rows as a dict of NumPy columns; {} at the end."""
        batch = self.next_batch_arrow(batch_size)
        if batch is None:
            return {}
        return {f.name: column_to_numpy(c) for f, c in zip(batch.schema, batch.columns)}
