// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) with the project's own
// writers: small valid inputs that start each target deep inside its format.
//   build-fuzz/bin/fuzz_make_corpus fuzz/corpus      (scripts/fuzz_corpus.sh)
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "feed/wire.h"
#include "formats/model_files.h"
#include "idx.h"
#include "io/memory_fs.h"
#include "mnist_dataset.h"
#include "mnist_pickle.h"
#include "net/frame.h"
#include "reservation/messages.h"
#include "tos/cluster_spec.h"
#include "tos/compression.h"
#include "tos/pickle.h"
#include "tos/pyspark_pickle_file.h"
#include "tos/tfrecord.h"
#include "tos/tuple_record.h"

namespace tos {
namespace {

std::shared_ptr<MemoryFileSystem> mem;
std::string root;

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "make_corpus: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

void Save(const std::string& target, const std::string& name, const std::string& bytes) {
  std::string dir = root + "/" + target;
  ::mkdir(root.c_str(), 0755);
  ::mkdir(dir.c_str(), 0755);
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "make_corpus: cannot write %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
}

// Canonical MNIST record r: label r % 10, pixels mostly 0 with a few values >= 128.
std::vector<uint8_t> Record(size_t r) {
  std::vector<uint8_t> rec(kMnistRecordBytes, 0);
  rec[0] = static_cast<uint8_t>(r % 10);
  for (size_t i = 0; i < kMnistPixels; i += 97) rec[1 + i] = static_cast<uint8_t>(i * 7 + r);
  rec[1 + 400] = 255;
  return rec;
}

std::string Gzip(const std::string& bytes, const std::string& name) {
  std::string uri = "gen://" + name;
  auto f = OpenOutputFile(uri, Compression::kGzip, 9);
  Check(f.status());
  Check((*f)->Append(bytes));
  Check((*f)->Close());
  return mem->Contents(uri);
}

std::string TfRecords(const std::vector<std::string>& records) {
  auto f = mem->NewWritableFile("gen://tfr");
  Check(f.status());
  TfRecordWriter w(std::move(*f));
  for (const auto& r : records) Check(w.Write(r));
  Check(w.Close());
  return mem->Contents("gen://tfr");
}

std::string Example(size_t r) {
  std::string e;
  AppendMnistExample(Record(r).data(), &e);
  return e;
}

std::string U16(size_t v) {
  return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
}

void PickleFilePair(size_t n, std::string* images, std::string* labels) {
  auto fi = mem->NewWritableFile("gen://pi");
  auto fl = mem->NewWritableFile("gen://pl");
  Check(fi.status());
  Check(fl.status());
  std::vector<uint8_t> buf;
  Check(WriteMnistPicklePartition(std::move(*fi), std::move(*fl), 0, n, [&](size_t r, uint8_t*) {
    buf = Record(r);
    return buf.data();
  }));
  *images = mem->Contents("gen://pi");
  *labels = mem->Contents("gen://pl");
}

std::string Frame(net::FrameType type, const std::string& payload) {
  std::string f;
  net::PutU32(&f, static_cast<uint32_t>(payload.size() + 1));
  f.push_back(static_cast<char>(type));
  return f + payload;
}

void Run() {
  // ---- tfrecord ----
  Save("tfrecord_fuzz", "empty", "");
  Save("tfrecord_fuzz", "one-record", TfRecords({"hello"}));
  Save("tfrecord_fuzz", "three-records", TfRecords({"", "a", std::string(40, 'x')}));
  Save("tfrecord_fuzz", "mnist-example", TfRecords({Example(3)}));

  // ---- tf.train.Example ----
  Save("example_fuzz", "mnist-3", Example(3));
  Save("example_fuzz", "mnist-8", Example(8));

  // ---- csv / csv2 lines ----
  for (size_t r : {0, 7}) {
    std::vector<uint8_t> rec = Record(r);
    std::string csv2, image, label;
    AppendMnistCsv2Line(rec.data(), &csv2);
    AppendMnistCsvImageLine(rec.data(), &image);
    AppendMnistCsvLabelLine(rec.data(), &label);
    csv2.pop_back();  // decoders take lines without their newline
    label.pop_back();
    Save("csv_fuzz", "csv2-" + std::to_string(r), std::string(1, '\0') + csv2);
    Save("csv_fuzz", "csv-pair-" + std::to_string(r), std::string(1, '\1') + image + label);
    image.pop_back();
    Save("csv_fuzz", "pixels-" + std::to_string(r), std::string(1, '\2') + image);
  }

  // ---- IDX: two bytes of split offset, then images and labels of one record ----
  {
    std::vector<uint8_t> rec = Record(4);
    IdxArray images, labels;
    images.dims = {1, 28, 28};
    images.data.assign(rec.begin() + 1, rec.end());
    labels.dims = {1};
    labels.data = {rec[0]};
    Check(WriteIdx("gen://images.idx", images));
    Check(WriteIdx("gen://labels.idx", labels));
    Check(WriteIdx("gen://images.idx.gz", images, Compression::kGzip));
    Check(WriteIdx("gen://labels.idx.gz", labels, Compression::kGzip));
    std::string i = mem->Contents("gen://images.idx"), l = mem->Contents("gen://labels.idx");
    std::string ig = mem->Contents("gen://images.idx.gz"),
                lg = mem->Contents("gen://labels.idx.gz");
    Save("idx_fuzz", "mnist-one", U16(i.size()) + i + l);
    Save("idx_fuzz", "mnist-one-gzip", U16(ig.size()) + ig + lg);
    Save("idx_fuzz", "labels-only", U16(0) + l);
  }

  // ---- pickle ----
  {
    uint8_t u8[5] = {0, 1, 2, 200, 255};
    int64_t i64[3] = {-1, 0, int64_t{1} << 40};
    float f32[2] = {0.5f, -2.0f};
    double f64[2] = {3.25, 1e300};
    std::string a, b, c, d, il, fl;
    AppendPickledArray(&a, PickleDtype::kUint8, u8, 5);
    AppendPickledArray(&b, PickleDtype::kInt64, i64, 3);
    AppendPickledArray(&c, PickleDtype::kFloat32, f32, 2);
    AppendPickledArray(&d, PickleDtype::kFloat64, f64, 2);
    AppendPickledIntList(&il, i64, 3);
    AppendPickledFloatList(&fl, f64, 2);
    Save("pickle_fuzz", "batch-arrays", PickleBatch({a, b, c, d}));
    Save("pickle_fuzz", "batch-lists", PickleBatch({il, fl}));
    Save("pickle_fuzz", "batch-empty", PickleBatch({}));
    // Bytes PySpark 3.5 with numpy 2 wrote (tests/formats/pickle_test.cc): protocol 5 arrays
    // through _frombuffer, and nested lists with memo references.
    const char* hex[] = {
        "8005957c000000000000005d948c136e756d70792e5f636f72652e6e756d65726963948c0b5f66726f6d62"
        "756666657294939428960500000000000000000102030494"
        "8c056e756d7079948c0564747970659493948c02753194898887945294284b038c017c944e4e4e4affffff"
        "ff4affffffff4b007494624b0585948c01439474945294612e",
        "80059525000000000000005d94285d94284b014b024b03655d9428474012000000000000474014000000"
        "00000065652e",
    };
    for (size_t k = 0; k < 2; ++k) {
      std::string bytes, h = hex[k];
      for (size_t i = 0; i + 1 < h.size(); i += 2)
        bytes.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
      Save("pickle_fuzz", "pyspark-" + std::to_string(k), bytes);
    }
    // A shared list: [x, x] with x = [] memoized once (protocol 2).
    Save("pickle_fuzz", "shared-list", std::string("\x80\x02(]q\x00h\x00l.", 10));
  }

  // ---- PySpark pickle files ----
  for (size_t n : {0, 3, 12}) {
    auto f = mem->NewWritableFile("gen://pyspark");
    Check(f.status());
    auto w = PySparkPickleWriter::Create(std::move(*f), 4);
    Check(w.status());
    for (size_t r = 0; r < n; ++r) {
      std::string e;
      int64_t v[2] = {static_cast<int64_t>(r), -static_cast<int64_t>(r)};
      AppendPickledIntList(&e, v, 2);
      Check((*w)->Add(e));
    }
    Check((*w)->Close());
    Save("pyspark_pickle_file_fuzz", "elements-" + std::to_string(n),
         mem->Contents("gen://pyspark"));
  }

  // ---- tuple records ----
  {
    std::string t;
    uint8_t u8[3] = {1, 2, 3};
    int32_t i32[2] = {-5, 7};
    int64_t i64[1] = {1234567890123};
    float f32[2] = {1.5f, -0.25f};
    double f64[1] = {2.5};
    AppendTupleHeader(&t, 7);
    AppendTupleField(&t, TupleType::kUint8, u8, 3);
    AppendTupleField(&t, TupleType::kInt32, i32, 2);
    AppendTupleField(&t, TupleType::kInt64, i64, 1);
    AppendTupleField(&t, TupleType::kFloat32, f32, 2);
    AppendTupleField(&t, TupleType::kFloat64, f64, 1);
    AppendTupleField(&t, TupleType::kString, "text", 4);
    AppendTupleField(&t, TupleType::kBytes, "\x00\x01", 2);
    Save("tuple_record_fuzz", "every-type", t);
    std::string e;
    AppendTupleHeader(&e, 0);
    Save("tuple_record_fuzz", "no-fields", e);
  }

  // ---- gzip: one byte of read size, then the compressed part ----
  Save("gzip_fuzz", "one-member", std::string(1, '\3') + Gzip("hello, gzip\n", "a.gz"));
  Save("gzip_fuzz", "two-members",
       std::string(1, '\0') + Gzip("first\n", "b.gz") + Gzip("second\n", "c.gz"));
  Save("gzip_fuzz", "empty-member", std::string(1, '\1') + Gzip("", "d.gz"));
  Save("gzip_fuzz", "repetitive", std::string(1, '\xff') + Gzip(std::string(3000, 'z'), "e.gz"));

  // ---- MNIST datasets: format byte (| 4 for gzip), split offset, parts ----
  {
    std::string csv_images, csv_labels, csv2, tfr;
    std::vector<std::string> examples;
    for (size_t r = 0; r < 2; ++r) {
      std::vector<uint8_t> rec = Record(r);
      AppendMnistCsvImageLine(rec.data(), &csv_images);
      AppendMnistCsvLabelLine(rec.data(), &csv_labels);
      AppendMnistCsv2Line(rec.data(), &csv2);
      examples.push_back(Example(r));
    }
    tfr = TfRecords(examples);
    std::string pi, pl;
    PickleFilePair(2, &pi, &pl);
    auto seed = [](int format, const std::string& a, const std::string& b) {
      return std::string(1, static_cast<char>(format)) + U16(a.size()) + a + b;
    };
    Save("mnist_dataset_fuzz", "csv", seed(0, csv_images, csv_labels));
    Save("mnist_dataset_fuzz", "csv2", seed(1, csv2, ""));
    Save("mnist_dataset_fuzz", "tfr", seed(2, tfr, ""));
    Save("mnist_dataset_fuzz", "pickle", seed(3, pi, pl));
    Save("mnist_dataset_fuzz", "csv2-gzip", seed(1 | 4, csv2, ""));
    Save("mnist_dataset_fuzz", "tfr-gzip", seed(2 | 4, tfr, ""));
  }

  // ---- frames: mode byte (bit 0 raw, bit 1 default limit), then the stream ----
  {
    std::string hello = Frame(net::FrameType::kHello, "TOS1" + std::string(32, 'n'));
    std::string data;
    net::PutU32(&data, 2);
    net::PutU32(&data, 0);
    feed::AppendRecord(&data, "abc");
    feed::AppendRecord(&data, "");
    std::string two =
        hello + Frame(net::FrameType::kFeedData, data) + Frame(net::FrameType::kFeedEnd, "");
    Save("frame_fuzz", "frames", std::string(1, '\2') + two);
    Save("frame_fuzz", "frames-raw", std::string(1, '\3') + two);
    Save("frame_fuzz", "frames-small-limit", std::string(1, '\4') + hello);
    // A payload past kFrameProbeBytes: its buffer grows once while it arrives.
    std::string large;
    net::PutU32(&large, 1);
    net::PutU32(&large, 0);
    feed::AppendRecord(&large, std::string(net::kFrameProbeBytes + 1000, 'r'));
    Save("frame_fuzz", "frames-large",
         std::string(1, '\3') + Frame(net::FrameType::kFeedData, large));
  }

  // ---- handshake: side byte (0 client, 1 server), then what the peer sends ----
  {
    std::string hello = Frame(net::FrameType::kHello, "TOS1" + std::string(32, 'n'));
    std::string auth_ok = Frame(net::FrameType::kAuthOk, std::string(32, 'm'));
    std::string auth = Frame(net::FrameType::kAuth, std::string(1, '\2') + std::string(64, 'c'));
    Save("auth_fuzz", "client", std::string(1, '\0') + hello + auth_ok);
    Save("auth_fuzz", "server", std::string(1, '\1') + auth);
  }

  // ---- reservation messages: decoder byte, then the JSON payload ----
  {
    reservation::Registration reg;
    reg.executor_id = 2;
    reg.host = "10.0.0.7";
    reg.port = 40001;
    reg.feed_port = 40002;
    reg.pid = 4242;
    reg.instance = "a1b2c3";
    reservation::ClusterReply reply;
    reply.cluster = {{"chief", {"10.0.0.5:40001"}},
                     {"worker", {"10.0.0.6:40001", "10.0.0.7:40001"}}};
    reply.job_name = "worker";
    reply.task_index = 1;
    reply.num_executors = 3;
    reply.feed_addresses = {{0, "10.0.0.5:40002"}, {2, "10.0.0.7:40002"}};
    Save("reservation_messages_fuzz", "registration",
         std::string(1, '\0') + reservation::EncodeRegistration(reg));
    Save("reservation_messages_fuzz", "cluster-reply",
         std::string(1, '\1') + reservation::EncodeClusterReply(reply));
    Save("reservation_messages_fuzz", "cluster-spec",
         std::string(1, '\2') + ClusterSpecToJson(reply.cluster));
  }

  // ---- feed wire: decoder byte, then the payload ----
  {
    std::string fixed;
    net::PutU32(&fixed, 3);
    net::PutU32(&fixed, 2);
    fixed += "aabbcc";
    std::string var;
    net::PutU32(&var, 2);
    net::PutU32(&var, 0);
    feed::AppendRecord(&var, "hello");
    feed::AppendRecord(&var, "");
    feed::FeedOpen open;
    open.feed = "train";
    open.sender = "partition-3";
    open.encoding = "tuple";
    open.shared = true;
    Save("feed_wire_fuzz", "data-fixed", std::string(1, '\0') + fixed);
    Save("feed_wire_fuzz", "data-variable", std::string(1, '\0') + var);
    Save("feed_wire_fuzz", "results",
         std::string(1, '\1') + feed::EncodeResults({"0.5", "", "label 3"}));
    Save("feed_wire_fuzz", "feed-open", std::string(1, '\2') + feed::EncodeFeedOpen(open));
  }

  // ---- checkpoint and export headers ----
  {
    CheckpointHeader h;
    h.global_step = 600;
    h.model_type = "mlp";
    h.meta_json = R"({"ps_optimizer":{"type":"adam","learning_rate":0.003}})";
    CheckpointEntry w{"fc1.weight", false, "float32", {2, 3}, 0, 24};
    CheckpointEntry b{"fc1.bias", false, "int64", {2}, 24, 16};
    CheckpointEntry blob{"optimizer", true, "", {}, 40, 5};
    h.entries = {w, b, blob};
    const std::string payload = std::string(40, '\x01') + "state";
    const std::string file = SerializeCheckpointFile(h, {payload});
    Save("model_files_fuzz", "checkpoint", std::string(1, '\0') + file);
    // Mode 1: the header's length (2 bytes), the header, the payload.
    const size_t hlen = (file[8] & 0xff) | (file[9] & 0xff) << 8;
    std::string framed(1, '\1');
    framed.push_back(static_cast<char>(hlen & 0xff));
    framed.push_back(static_cast<char>(hlen >> 8));
    framed += file.substr(16, hlen) + payload;
    Save("model_files_fuzz", "checkpoint-header", framed);
    ExportManifest m;
    m.model_type = "mlp";
    m.input_shape = {784};
    m.global_step = 600;
    m.model_pt_bytes = 408000;
    m.model_pt_sha256 = Sha256Hex("model.pt");
    Save("model_files_fuzz", "export-manifest", std::string(1, '\2') + ExportManifestToJson(m));
  }

  // ---- text parsers ----
  Save("net_text_fuzz", "host-port", "localhost:9000");
  Save("net_text_fuzz", "port-range", "9997-9999");
  Save("net_text_fuzz", "format", "csv2");
}

}  // namespace
}  // namespace tos

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  tos::root = argv[1];
  tos::mem = std::make_shared<tos::MemoryFileSystem>();
  tos::RegisterFileSystem("gen", tos::mem);
  tos::Run();
  return 0;
}
