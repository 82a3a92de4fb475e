// torchonspark._tos: the C++ runtime as a Python extension module (pybind11). A Python
// training function runs in a node that is the ordinary C++ node runner (tos::Main) inside a
// Python process: reservation, heartbeats, feeds, fail-fast and shutdown are the runtime's own;
// this file only converts between Python objects and the runtime's types. No libtorch here.
//
// The GIL is released whenever the runtime may block (a batch, a barrier, the store, the
// driver's calls), so Python threads of the training function keep running meanwhile.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <signal.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/socket.h"
#include "reservation/client.h"
#include "tos/compression.h"
#include "tos/example.h"
#include "tos/fs.h"
#include "tos/partitioned_dir.h"
#include "tos/tfrecord.h"
#include "tos/tos.h"
#include "tos/tuple_record.h"

namespace py = pybind11;

namespace tos::python {
namespace {

using std::chrono::milliseconds;

// ---- records ----

py::object FieldToPython(const TupleField& f) {
  switch (f.type) {
    case TupleType::kString:
      return py::str(f.raw.data(), f.raw.size());
    case TupleType::kBytes:
      return py::bytes(f.raw.data(), f.raw.size());
    default:
      break;
  }
  // One number is a scalar (Python int or float); several are a 1-d NumPy array.
  if (f.count == 1) {
    if (f.type == TupleType::kFloat32 || f.type == TupleType::kFloat64) return py::float_(f.at(0));
    if (f.type == TupleType::kInt64) {  // exactly: a double holds only 53 bits
      int64_t v = 0;
      std::memcpy(&v, f.raw.data(), sizeof(v));
      return py::int_(v);
    }
    return py::int_(static_cast<int64_t>(f.at(0)));
  }
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    py::array_t<T> a(f.count);
    std::memcpy(a.mutable_data(), f.raw.data(), f.raw.size());
    return py::object(std::move(a));
  };
  switch (f.type) {
    case TupleType::kUint8:
      return fill(uint8_t{});
    case TupleType::kInt32:
      return fill(int32_t{});
    case TupleType::kInt64:
      return fill(int64_t{});
    case TupleType::kFloat32:
      return fill(float{});
    default:
      return fill(double{});
  }
}

size_t ElementSize(TupleType t) {
  switch (t) {
    case TupleType::kUint8:
      return 1;
    case TupleType::kInt32:
    case TupleType::kFloat32:
      return 4;
    default:
      return 8;
  }
}

const char* TypeName(TupleType t) {
  switch (t) {
    case TupleType::kUint8:
      return "uint8";
    case TupleType::kInt32:
      return "int32";
    case TupleType::kInt64:
      return "int64";
    case TupleType::kFloat32:
      return "float32";
    case TupleType::kFloat64:
      return "float64";
    case TupleType::kString:
      return "string";
    default:
      return "bytes";
  }
}

py::dtype DtypeOf(TupleType t) {
  switch (t) {
    case TupleType::kUint8:
      return py::dtype::of<uint8_t>();
    case TupleType::kInt32:
      return py::dtype::of<int32_t>();
    case TupleType::kInt64:
      return py::dtype::of<int64_t>();
    case TupleType::kFloat32:
      return py::dtype::of<float>();
    default:
      return py::dtype::of<double>();
  }
}

[[noreturn]] void Throw(const Status& s) { throw Error(s); }

// A batch as TFoS's next_batch returns it: one Python object per record.
py::list BatchToList(const Batch& batch) {
  py::list out(batch.size());
  const std::string& enc = batch.encoding();
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string_view r = batch[i];
    if (enc == "text") {
      out[i] = py::str(r.data(), r.size());
    } else if (enc == "tuple") {
      auto fields = DecodeTupleRecord(r);
      if (!fields.ok()) Throw(fields.status().WithContext("record " + std::to_string(i)));
      if (fields->size() == 1 && (*fields)[0].numeric() && (*fields)[0].count != 1) {
        out[i] = FieldToPython((*fields)[0]);  // a fed array or list stays one array
        continue;
      }
      py::tuple t(fields->size());
      for (size_t k = 0; k < fields->size(); ++k) t[k] = FieldToPython((*fields)[k]);
      out[i] = std::move(t);
    } else {
      out[i] = py::bytes(r.data(), r.size());
    }
  }
  return out;
}

// Appends the numbers of one csv row (separated by `sep`; spaces, a leading '+', CRLF and
// out-of-float-range values as strtof reads them) to *values. *cols is set by row 0 and every
// other row must have as many. Errors name the row (`index` within the batch) and column.
Status ParseCsvRow(std::string_view line, char sep, size_t index, std::vector<float>* values,
                   size_t* cols) {
  const char* p = line.data();
  const char* end = p + line.size();
  if (end > p && end[-1] == '\r') --end;
  auto where = [&](size_t column) {
    return "row " + std::to_string(index) + " of the batch, column " + std::to_string(column);
  };
  if (p == end)
    return DataLoss("row " + std::to_string(index) +
                    " of the batch is empty: a csv row holds numbers separated by '" +
                    std::string(1, sep) + "'");
  size_t row = 0;
  while (p <= end) {
    while (p < end && *p == ' ') ++p;
    if (p < end && *p == '+') ++p;
    float v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec == std::errc::result_out_of_range) {
      // Too small for a float is 0 or a subnormal, too large is +-inf, as strtof gives.
      v = std::strtof(std::string(p, next).c_str(), nullptr);
      ec = std::errc();
    }
    if (ec != std::errc())
      return DataLoss(where(row) + ": not a number: '" + std::string(line.substr(0, 80)) + "'");
    values->push_back(v);
    ++row;
    p = next;
    while (p < end && *p == ' ') ++p;
    if (p == end) break;
    if (*p != sep) return DataLoss(where(row) + ": expected '" + std::string(1, sep) + "'");
    ++p;
  }
  if (index == 0) *cols = row;
  if (row != *cols)
    return DataLoss("row " + std::to_string(index) + " of the batch has " + std::to_string(row) +
                    " values, row 0 has " + std::to_string(*cols));
  return Status::OK();
}

// The columnar form: one array per field, stacked over the batch, filled with the GIL released.
// Every record must have the first record's field types and counts.
py::tuple BatchToArrays(const Batch& batch, bool csv) {
  if (batch.empty()) return py::tuple();  // the feed is over (an empty batch has no encoding)
  if (batch.encoding() != "tuple")
    throw py::value_error(
        "next_batch_arrays needs tuple records (tuples, lists or numpy arrays "
        "in the RDD); this feed carries " +
        batch.encoding() + " records: use next_batch");
  auto first = DecodeTupleRecord(batch[0]);
  if (!first.ok()) Throw(first.status().WithContext("record 0"));
  const size_t n = batch.size();
  const size_t nf = first->size();
  std::vector<TupleType> types(nf);
  std::vector<uint32_t> counts(nf);
  std::vector<char*> dest(nf, nullptr);
  std::vector<py::object> arrays(nf);
  for (size_t k = 0; k < nf; ++k) {
    const TupleField& f = (*first)[k];
    types[k] = f.type;
    counts[k] = f.count;
    if (!f.numeric()) continue;  // strings and bytes: a list, filled below
    std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(n)};
    if (f.count != 1) shape.push_back(f.count);
    py::array a(DtypeOf(f.type), shape);
    dest[k] = static_cast<char*>(a.mutable_data());
    arrays[k] = std::move(a);
  }
  // csv: string fields are rows of numbers, parsed here into float32 [n, columns]; other
  // string and bytes fields are kept (views into the batch) for their lists.
  std::vector<std::vector<TupleField>> kept(nf);
  std::vector<std::vector<float>> parsed(nf);
  std::vector<size_t> parsed_cols(nf, 0);
  Status bad;
  {
    py::gil_scoped_release release;
    for (size_t i = 0; i < n && bad.ok(); ++i) {
      auto decoded = DecodeTupleRecord(batch[i]);
      if (!decoded.ok()) {
        bad = decoded.status().WithContext("record " + std::to_string(i));
        break;
      }
      if (decoded->size() != nf) {
        bad =
            InvalidArgument("record " + std::to_string(i) + " has " +
                            std::to_string(decoded->size()) + " fields, record 0 has " +
                            std::to_string(nf) + ": next_batch_arrays needs records of one shape");
        break;
      }
      for (size_t k = 0; k < nf; ++k) {
        const TupleField& f = (*decoded)[k];
        if (f.type != types[k] || (dest[k] != nullptr && f.count != counts[k])) {
          bad = InvalidArgument(
              "field " + std::to_string(k) + " of record " + std::to_string(i) + " is " +
              TypeName(f.type) + "[" + std::to_string(f.count) + "], record 0's is " +
              TypeName(types[k]) + "[" + std::to_string(counts[k]) +
              "]: next_batch_arrays needs records of one shape and type (a Python list of whole "
              "numbers is sent as int64, one with a fraction as float64: make such lists floats, "
              "or feed numpy arrays; or use next_batch)");
          break;
        }
        if (dest[k] != nullptr) {
          const size_t bytes = f.count * ElementSize(f.type);
          std::memcpy(dest[k] + i * bytes, f.raw.data(), bytes);
        } else if (csv && f.type == TupleType::kString) {
          bad = ParseCsvRow(f.raw, ',', i, &parsed[k], &parsed_cols[k])
                    .WithContext("field " + std::to_string(k) + " (csv)");
          if (!bad.ok()) break;
        } else {
          kept[k].push_back(f);
        }
      }
    }
  }
  if (!bad.ok()) throw py::value_error(bad.message());
  py::tuple out(nf);
  for (size_t k = 0; k < nf; ++k) {
    if (dest[k] != nullptr) {
      out[k] = arrays[k];
      continue;
    }
    if (csv && types[k] == TupleType::kString) {
      py::array_t<float> a({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(parsed_cols[k])});
      if (!parsed[k].empty())
        std::memcpy(a.mutable_data(), parsed[k].data(), parsed[k].size() * sizeof(float));
      out[k] = std::move(a);
      continue;
    }
    py::list items(n);
    for (size_t i = 0; i < n; ++i) items[i] = FieldToPython(kept[k][i]);
    out[k] = std::move(items);
  }
  return out;
}

// "bytes" records holding tf.train.Example protos (a TFRecord dataset's records), parsed in C++
// into one column per feature of the first record: int64 features as int64[n, k], float
// features as float32[n, k] ([n] when k is 1), bytes features as a list. Every record must
// have the first one's features with the same kinds and lengths.
py::dict BatchToExamples(const Batch& batch) {
  py::dict out;
  if (batch.empty()) return out;  // the feed is over
  if (batch.encoding() != "bytes")
    throw py::value_error(
        "next_batch_examples needs bytes records holding tf.train.Example "
        "protos; this feed carries " +
        batch.encoding() + " records");
  const size_t n = batch.size();
  std::vector<Example> examples(n);
  Status bad;
  {
    py::gil_scoped_release release;
    for (size_t i = 0; i < n; ++i) {
      auto e = Example::Parse(batch[i]);
      if (!e.ok()) {
        bad = e.status().WithContext("record " + std::to_string(i) + " of the batch");
        break;
      }
      examples[i] = std::move(e).value();
    }
  }
  if (!bad.ok()) Throw(bad);
  for (const auto& [name, first] : examples[0].features()) {
    auto length = [&](const Example::Feature& f) {
      return f.kind == Example::Kind::kInt64   ? f.int64s.size()
             : f.kind == Example::Kind::kFloat ? f.floats.size()
                                               : f.bytes.size();
    };
    const size_t k = length(first);
    for (size_t i = 1; i < n; ++i) {
      const Example::Feature* f = examples[i].Find(name);
      if (f == nullptr || f->kind != first.kind || length(*f) != k)
        throw py::value_error("record " + std::to_string(i) + " of the batch: feature '" + name +
                              "' is missing or differs in kind or length from record 0's (" +
                              std::to_string(k) +
                              " values): next_batch_examples needs "
                              "Examples of one shape (use next_batch and parse them yourself)");
    }
    if (first.kind == Example::Kind::kNone) continue;
    if (first.kind == Example::Kind::kBytes) {
      py::list col(n);
      for (size_t i = 0; i < n; ++i) {
        const auto& b = examples[i].Find(name)->bytes;
        if (k == 1) {
          col[i] = py::bytes(b[0]);
        } else {
          py::list items(k);
          for (size_t j = 0; j < k; ++j) items[j] = py::bytes(b[j]);
          col[i] = std::move(items);
        }
      }
      out[py::str(name)] = std::move(col);
      continue;
    }
    std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(n)};
    if (k != 1) shape.push_back(static_cast<py::ssize_t>(k));
    if (first.kind == Example::Kind::kInt64) {
      py::array_t<int64_t> a(shape);
      for (size_t i = 0; i < n; ++i)
        std::memcpy(a.mutable_data() + i * k, examples[i].Find(name)->int64s.data(),
                    k * sizeof(int64_t));
      out[py::str(name)] = std::move(a);
    } else {
      py::array_t<float> a(shape);
      for (size_t i = 0; i < n; ++i)
        std::memcpy(a.mutable_data() + i * k, examples[i].Find(name)->floats.data(),
                    k * sizeof(float));
      out[py::str(name)] = std::move(a);
    }
  }
  return out;
}

Batch NextBatch(DataFeed& feed, size_t n) {
  py::gil_scoped_release release;
  return feed.next_batch(n);
}

// ---- the node ----

int RunMain(const std::vector<std::string>& argv, const py::object& map_fun) {
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  cargv.reserve(args.size() + 1);
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  // map_fun outlives this call (the caller holds it); the runtime calls it on this thread.
  PyObject* fn = map_fun.ptr();
  MapFun node_fun = [fn](const std::vector<std::string>&, Context& ctx) {
    py::gil_scoped_acquire gil;
    std::string failure;
    try {
      py::object err = py::reinterpret_borrow<py::object>(fn)(
          py::cast(&ctx, py::return_value_policy::reference));
      if (!err.is_none()) failure = py::str(err).cast<std::string>();
    } catch (py::error_already_set& e) {
      failure = e.what();
    }
    if (!failure.empty()) throw std::runtime_error(failure);
  };
  DriverFun driver = [](const std::vector<std::string>&) {
    std::fprintf(stderr,
                 "torchonspark.node runs only as a node, started by a TorchOnSpark driver; start "
                 "a job with torchonspark.local.run or TFCluster.run\n");
    return 2;
  };
  py::gil_scoped_release release;
  return tos::Main(static_cast<int>(args.size()), cargv.data(), node_fun, driver);
}

// ---- the driver's rendezvous store, for torch.distributed ----

class StoreClient {
 public:
  StoreClient(const std::string& address, const std::string& secret, int64_t timeout_ms) {
    auto hp = net::ParseHostPort(address);
    if (!hp.ok()) Throw(hp.status());
    py::gil_scoped_release release;
    auto c = reservation::KvClient::Connect(*hp, secret, net::After(milliseconds(timeout_ms)));
    if (!c.ok()) Throw(c.status().WithContext("connecting to the job's store at " + address));
    client_ = std::move(c).value();
  }
  void Set(const std::string& key, const py::bytes& value) {
    std::string v = value;
    py::gil_scoped_release release;
    Status s = client_->Set(key, v);
    if (!s.ok()) Throw(s);
  }
  py::bytes Get(const std::string& key, int64_t timeout_ms) {
    Result<std::string> r = InvalidArgument("");
    {
      py::gil_scoped_release release;
      r = client_->Get(key, milliseconds(timeout_ms));
    }
    if (!r.ok()) Throw(r.status());
    return py::bytes(*r);
  }
  int64_t Add(const std::string& key, int64_t delta) {
    Result<int64_t> r = InvalidArgument("");
    {
      py::gil_scoped_release release;
      r = client_->Add(key, delta);
    }
    if (!r.ok()) Throw(r.status());
    return *r;
  }

 private:
  std::unique_ptr<reservation::KvClient> client_;
};

// ---- direct mode: a node's shard of a partitioned text dataset ----

class TextShard {
 public:
  TextShard(const std::string& dir, int shard, int num_shards, int readers, int epochs,
            size_t shuffle_buffer, uint64_t seed) {
    Result<std::unique_ptr<ShardReader>> r = InvalidArgument("");
    {
      py::gil_scoped_release release;
      auto data = OpenTextDataset(dir);
      if (!data.ok()) {
        r = data.status();
      } else {
        ShardReaderOptions o;
        o.shard_index = shard;
        o.num_shards = num_shards;
        o.readers = readers;
        o.epochs = epochs;
        o.shuffle_buffer = shuffle_buffer;
        o.seed = seed;
        r = ShardReader::Open(std::shared_ptr<const RecordSource>(std::move(data).value()), o);
      }
    }
    if (!r.ok()) Throw(r.status());
    reader_ = std::move(r).value();
  }
  // Up to n lines; an empty list once the shard is read (every epoch).
  py::list NextBatch(size_t n) {
    std::vector<std::string> lines;
    Result<bool> more = false;
    {
      py::gil_scoped_release release;
      more = reader_->NextBatch(n, &lines);
    }
    if (!more.ok()) Throw(more.status());
    py::list out(lines.size());
    for (size_t i = 0; i < lines.size(); ++i) out[i] = py::str(lines[i]);
    return out;
  }
  // Up to n lines of numbers separated by `sep`, parsed in C++ into float32 [n, columns]
  // (columns from the first line; every line must have as many). Shape [0, 0] at the end.
  py::array_t<float> NextBatchCsv(size_t n, char sep) {
    std::vector<std::string> lines;
    Result<bool> more = false;
    std::vector<float> values;
    size_t cols = 0;
    Status bad;
    {
      py::gil_scoped_release release;
      more = reader_->NextBatch(n, &lines);
      for (size_t i = 0; i < lines.size() && bad.ok(); ++i)
        bad = ParseCsvRow(lines[i], sep, i, &values, &cols);
    }
    if (!more.ok()) Throw(more.status());
    if (!bad.ok()) Throw(bad);
    py::array_t<float> out(
        {static_cast<py::ssize_t>(lines.size()), static_cast<py::ssize_t>(cols)});
    if (!values.empty())
      std::memcpy(out.mutable_data(), values.data(), values.size() * sizeof(float));
    return out;
  }
  size_t NumPartitions() const { return reader_->num_partitions(); }

 private:
  std::unique_ptr<ShardReader> reader_;
};

// ---- the driver in local mode ----

// The local driver handles SIGINT and SIGTERM while a job runs (it stops the nodes); the Python
// process gets its own handlers back when the job ends.
struct SavedSignals {
  struct sigaction sigint {};
  struct sigaction sigterm {};
  void Save() {
    sigaction(SIGINT, nullptr, &sigint);
    sigaction(SIGTERM, nullptr, &sigterm);
  }
  void Restore() const {
    sigaction(SIGINT, &sigint, nullptr);
    sigaction(SIGTERM, &sigterm, nullptr);
  }
};

class LocalCluster {
 public:
  LocalCluster(std::unique_ptr<Cluster> c, SavedSignals saved)
      : cluster_(std::move(c)), saved_(saved) {}
  ~LocalCluster() {
    {
      py::gil_scoped_release release;
      cluster_.reset();
    }
    saved_.Restore();
  }
  void Train(std::vector<std::vector<std::string>> parts, const std::string& encoding, int epochs,
             const std::string& feed) {
    VectorRecordSource data(std::move(parts), encoding);
    Status s;
    {
      py::gil_scoped_release release;
      s = cluster_->Train(data, epochs, feed);
    }
    if (!s.ok()) Throw(s);
  }
  void TrainDir(const std::string& dir, int epochs, const std::string& feed) {
    Status s;
    {
      py::gil_scoped_release release;
      auto data = OpenTextDataset(dir);
      s = data.ok() ? cluster_->Train(**data, epochs, feed) : data.status();
    }
    if (!s.ok()) Throw(s);
  }
  void Inference(std::vector<std::vector<std::string>> parts, const std::string& encoding,
                 const std::string& output_dir, const std::string& feed, bool overwrite) {
    VectorRecordSource data(std::move(parts), encoding);
    Status s;
    {
      py::gil_scoped_release release;
      s = cluster_->Inference(data, output_dir, feed, overwrite);
    }
    if (!s.ok()) Throw(s);
  }
  void Shutdown(int64_t grace_s, int64_t timeout_s) {
    Status s;
    {
      py::gil_scoped_release release;
      s = cluster_->Shutdown(std::chrono::seconds(grace_s), std::chrono::seconds(timeout_s));
    }
    saved_.Restore();
    if (!s.ok()) Throw(s);
  }
  py::dict Spec() const {
    py::dict d;
    for (const auto& [job, addrs] : cluster_->cluster_spec()) d[py::str(job)] = addrs;
    return d;
  }
  std::string TensorboardUrl() const { return cluster_->tensorboard_url(); }

 private:
  std::unique_ptr<Cluster> cluster_;
  SavedSignals saved_;
};

std::unique_ptr<LocalCluster> StartLocal(const py::dict& o, const std::string& program,
                                         const std::vector<std::string>& node_args,
                                         const std::map<std::string, std::string>& node_env) {
  ClusterOptions opts;
  opts.num_executors = o["num_executors"].cast<int>();
  opts.num_ps = o["num_ps"].cast<int>();
  opts.master_node = o["master_node"].cast<bool>();
  opts.eval_node = o["eval_node"].cast<bool>();
  opts.input_mode = o["input_mode"].cast<int>() == 0 ? InputMode::kTensorflow : InputMode::kSpark;
  opts.tensorboard = o["tensorboard"].cast<bool>();
  opts.log_dir = o["log_dir"].cast<std::string>();
  opts.reservation_timeout = std::chrono::seconds(o["reservation_timeout"].cast<int64_t>());
  opts.feed_timeout = std::chrono::seconds(o["feed_timeout"].cast<int64_t>());
  opts.node_timeout = std::chrono::seconds(o["node_timeout"].cast<int64_t>());
  opts.threads_per_node = o["threads_per_node"].cast<int>();
  if (o.contains("gpus_per_node")) opts.gpus_per_node = o["gpus_per_node"].cast<int>();
  opts.program = program;
  opts.node_args = node_args;
  opts.node_env = node_env;
  SavedSignals saved;
  saved.Save();
  Result<std::unique_ptr<Cluster>> c = InvalidArgument("");
  {
    py::gil_scoped_release release;
    c = Cluster::Run(opts);
  }
  if (!c.ok()) {
    saved.Restore();
    Throw(c.status());
  }
  return std::make_unique<LocalCluster>(std::move(c).value(), saved);
}

}  // namespace
}  // namespace tos::python

PYBIND11_MODULE(_tos, m) {
  using namespace tos;
  using namespace tos::python;
  m.doc() = "The TorchOnSpark runtime (C++), for Python training functions";
  py::register_local_exception<Error>(m, "Error", PyExc_RuntimeError);

  m.def("main", &RunMain, py::arg("argv"), py::arg("map_fun"),
        "Runs this process as tos::Main would: a node calls map_fun(ctx) and returns None or "
        "the failure's text; the driver service and feed client modes run in C++. Ends the "
        "process when it is a node.");

  py::class_<ReservedPort>(m, "ReservedPort")
      .def_property_readonly("host", &ReservedPort::host)
      .def_property_readonly("port", &ReservedPort::port)
      .def("take_fd", &ReservedPort::TakeFd,
           "The bound socket, for a server that binds the same port; the caller owns it.")
      .def("release", &ReservedPort::Release);

  py::class_<DataFeed>(m, "DataFeed")
      .def_property_readonly("name", &DataFeed::name)
      .def(
          "next_batch", [](DataFeed& f, size_t n) { return BatchToList(NextBatch(f, n)); },
          py::arg("batch_size"))
      .def(
          "next_batch_arrays",
          [](DataFeed& f, size_t n, bool csv) { return BatchToArrays(NextBatch(f, n), csv); },
          py::arg("batch_size"), py::arg("csv") = false)
      .def(
          "next_batch_examples",
          [](DataFeed& f, size_t n) { return BatchToExamples(NextBatch(f, n)); },
          py::arg("batch_size"))
      .def(
          "next_records",
          [](DataFeed& f, size_t n) {
            // Records as bytes with how they were sent: what torchonspark.columns reads.
            Batch b = NextBatch(f, n);
            py::list records(b.size());
            for (size_t i = 0; i < b.size(); ++i) records[i] = py::bytes(b[i].data(), b[i].size());
            return py::make_tuple(records, b.empty() ? std::string() : b.encoding(), b.inference());
          },
          py::arg("batch_size"))
      .def("should_stop", &DataFeed::should_stop)
      .def(
          "batch_results",
          [](DataFeed& f, const std::vector<std::string>& r) {
            py::gil_scoped_release release;
            f.batch_results(r);
          },
          py::arg("results"))
      .def("terminate", &DataFeed::terminate, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("records_consumed", &DataFeed::records_consumed);

  py::class_<Context>(m, "Context")
      .def_property_readonly("executor_id", &Context::executor_id)
      .def_property_readonly("job_name", &Context::job_name)
      .def_property_readonly("task_index", &Context::task_index)
      .def_property_readonly("cluster_spec", &Context::cluster_spec)
      .def_property_readonly("num_executors", &Context::num_executors)
      .def_property_readonly("num_workers", &Context::num_workers)
      .def_property_readonly("worker_index", &Context::worker_index)
      .def_property_readonly("is_chief", &Context::is_chief)
      .def_property_readonly(
          "input_mode",
          [](const Context& c) { return c.input_mode() == InputMode::kTensorflow ? 0 : 1; })
      .def_property_readonly("default_fs", &Context::default_fs)
      .def_property_readonly("working_dir", &Context::working_dir)
      .def_property_readonly("log_dir", &Context::log_dir)
      .def_property_readonly("threads", &Context::threads)
      .def("absolute_path", &Context::absolute_path)
      .def("reserved_port", &Context::reserved_port, py::return_value_policy::reference_internal)
      .def("data_feed", &Context::data_feed, py::arg("name") = "input",
           py::return_value_policy::reference_internal)
      .def(
          "wait_for_stop",
          [](const Context& c, double timeout_s) {
            return c.WaitForStop(milliseconds(static_cast<int64_t>(timeout_s * 1000)));
          },
          py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("stop_requested", &Context::stop_requested)
      .def("set_status", &Context::SetStatus)
      .def("report_progress", &Context::ReportProgress, py::arg("units") = 1)
      .def(
          "wait_for_trainers",
          [](Context& c, const std::string& name, double timeout_s) {
            c.WaitForTrainers(name, milliseconds(static_cast<int64_t>(timeout_s * 1000)));
          },
          py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("reservation_address", &Context::reservation_address)
      .def_property_readonly("secret", &Context::secret)
      .def("report_url", &Context::ReportUrl);

  py::class_<StoreClient>(m, "StoreClient")
      .def(py::init<const std::string&, const std::string&, int64_t>())
      .def("set", &StoreClient::Set)
      .def("get", &StoreClient::Get)
      .def("add", &StoreClient::Add);

  py::class_<TextShard>(m, "TextShard")
      .def(py::init<const std::string&, int, int, int, int, size_t, uint64_t>(), py::arg("dir"),
           py::arg("shard"), py::arg("num_shards"), py::arg("readers") = 1, py::arg("epochs") = 1,
           py::arg("shuffle_buffer") = 0, py::arg("seed") = 1)
      .def("next_batch", &TextShard::NextBatch, py::arg("batch_size"))
      .def("next_batch_csv", &TextShard::NextBatchCsv, py::arg("batch_size"), py::arg("sep") = ',')
      .def_property_readonly("num_partitions", &TextShard::NumPartitions);

  py::class_<LocalCluster>(m, "LocalCluster")
      .def("train", &LocalCluster::Train)
      .def("train_dir", &LocalCluster::TrainDir)
      .def("inference", &LocalCluster::Inference)
      .def("shutdown", &LocalCluster::Shutdown)
      .def_property_readonly("cluster_spec", &LocalCluster::Spec)
      .def_property_readonly("tensorboard_url", &LocalCluster::TensorboardUrl);
  m.def("start_local", &StartLocal);

  // Files on any file system the runtime serves (a local path, file://, hdfs://, webhdfs://).
  m.def(
      "read_file",
      [](const std::string& uri) {
        Result<std::string> r = InvalidArgument("");
        {
          py::gil_scoped_release release;
          r = ReadFileToString(uri);
        }
        if (!r.ok()) Throw(r.status());
        return py::bytes(*r);
      },
      py::arg("uri"));
  // tf.train.Example and TFRecord files for torchonspark.dfutil (TFoS's dfutil).
  m.def(
      "parse_example",
      [](const py::bytes& record) {
        std::string_view bytes = record;
        auto e = Example::Parse(bytes);
        if (!e.ok()) Throw(e.status());
        py::dict out;
        for (const auto& [name, f] : e->features()) {
          if (f.kind == Example::Kind::kInt64) {
            out[py::str(name)] = py::make_tuple("int64", py::cast(f.int64s));
          } else if (f.kind == Example::Kind::kFloat) {
            out[py::str(name)] = py::make_tuple("float", py::cast(f.floats));
          } else if (f.kind == Example::Kind::kBytes) {
            py::list items(f.bytes.size());
            for (size_t i = 0; i < f.bytes.size(); ++i) items[i] = py::bytes(f.bytes[i]);
            out[py::str(name)] = py::make_tuple("bytes", items);
          }
        }
        return out;
      },
      py::arg("record"), "A serialized tf.train.Example as {name: (kind, values)}.");
  m.def(
      "serialize_example",
      [](const py::dict& features) {
        Example e;
        for (auto item : features) {
          auto name = item.first.cast<std::string>();
          auto kv = item.second.cast<py::tuple>();
          auto kind = kv[0].cast<std::string>();
          if (kind == "int64") {
            e.SetInt64s(name, kv[1].cast<std::vector<int64_t>>());
          } else if (kind == "float") {
            e.SetFloats(name, kv[1].cast<std::vector<float>>());
          } else if (kind == "bytes") {
            std::vector<std::string> values;
            for (auto v : kv[1]) values.push_back(v.cast<std::string>());
            e.SetBytes(name, std::move(values));
          } else {
            throw py::value_error("feature '" + name +
                                  "': kind must be int64, float or bytes, not " + kind);
          }
        }
        return py::bytes(e.Serialize());
      },
      py::arg("features"), "{name: (kind, values)} as a serialized tf.train.Example.");
  m.def(
      "read_tfrecords",
      [](const std::string& uri) {
        std::vector<std::string> records;
        Status st;
        {
          py::gil_scoped_release release;
          const bool gz = uri.size() > 3 && uri.compare(uri.size() - 3, 3, ".gz") == 0;
          auto file = OpenInputFile(uri, gz ? Compression::kGzip : Compression::kNone);
          st = file.status();
          if (st.ok()) {
            TfRecordReader reader(std::move(file).value());
            std::string r;
            for (;;) {
              auto more = reader.Next(&r);
              if (!more.ok()) {
                st = more.status();
                break;
              }
              if (!*more) break;
              records.push_back(std::move(r));
            }
          }
        }
        if (!st.ok()) Throw(st);
        py::list out(records.size());
        for (size_t i = 0; i < records.size(); ++i) out[i] = py::bytes(records[i]);
        return out;
      },
      py::arg("uri"), "The records of one TFRecord file (.gz: gzip), CRCs checked.");
  m.def(
      "write_tfrecord_part",
      [](const std::string& dir, size_t index, const std::vector<std::string>& records) {
        Status st;
        {
          py::gil_scoped_release release;
          auto file = CreatePartFile(dir, PartFileName(index));
          st = file.status();
          if (st.ok()) {
            TfRecordWriter writer(std::move(file).value());
            for (const auto& r : records) {
              st = writer.Write(r);
              if (!st.ok()) break;
            }
            if (st.ok()) st = writer.Close();
          }
        }
        if (!st.ok()) Throw(st);
      },
      py::arg("dir"), py::arg("index"), py::arg("records"),
      "Writes DIR/part-NNNNN as a TFRecord file, in place only once complete.");
  m.def(
      "make_dirs",
      [](const std::string& uri) {
        Status s;
        {
          py::gil_scoped_release release;
          auto fs = GetFileSystem(uri);
          s = fs.ok() ? (*fs)->CreateDirs(uri) : fs.status();
        }
        if (!s.ok()) Throw(s);
      },
      py::arg("uri"), "Creates a directory and its missing parents.");
  m.def(
      "list_parts",
      [](const std::string& dir, bool allow_incomplete) {
        Result<std::vector<std::string>> r = InvalidArgument("");
        {
          py::gil_scoped_release release;
          r = ListPartFiles(dir, allow_incomplete);
        }
        if (!r.ok()) Throw(r.status());
        return *r;
      },
      py::arg("dir"), py::arg("allow_incomplete") = false,
      "The part files of a dataset directory in part order (refusing one without _SUCCESS or "
      "with a part missing, unless allow_incomplete).");
  m.def(
      "write_file",
      [](const std::string& uri, const py::bytes& data) {
        std::string bytes = data;
        Status s;
        {
          py::gil_scoped_release release;
          auto fs = GetFileSystem(uri);
          const size_t slash = uri.rfind('/');
          s = fs.ok() ? Status::OK() : fs.status();
          if (s.ok() && slash != std::string::npos && slash > 0 && uri[slash - 1] != '/')
            s = (*fs)->CreateDirs(uri.substr(0, slash));
          if (s.ok()) s = WriteFileAtomically(uri, bytes);
        }
        if (!s.ok()) Throw(s);
      },
      py::arg("uri"), py::arg("data"),
      "Writes the whole file atomically (a temporary name, made durable, checked, renamed), "
      "creating its directory.");
}
