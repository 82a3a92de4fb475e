// mnist_data_setup: converts MNIST-family IDX files into the partitioned datasets the cluster
// feeds from (csv, csv2, tfr), or reads such a dataset back and checks it against the IDX files.
// Same command line as TensorFlowOnSpark's examples/mnist/mnist_data_setup.py.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "idx.h"
#include "mnist_dataset.h"
#include "tos/fs.h"
#include "tos/partitioned_dir.h"
#include "tos/tfrecord.h"

namespace {

using tos::DataFormat;
using tos::MnistArrays;
using tos::Result;
using tos::Status;

constexpr char kDefaultInput[] = "/usr/share/datasets/fashion-mnist";

struct Options {
  std::string format = "csv";
  size_t num_partitions = 10;
  std::string output = "mnist_data";
  bool read = false;
  bool verify = false;
  std::string input;
  bool overwrite = false;
  bool gzip = false;
  bool allow_incomplete = false;
};

struct Split {
  std::string name;    // "train", "test"
  std::string prefix;  // IDX file prefix: "train", "t10k"
  MnistArrays data;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

Result<std::string> FindIdxFile(const std::string& dir, const std::string& stem) {
  TOS_ASSIGN_OR_RETURN(tos::FileSystem * fs, tos::GetFileSystem(dir));
  for (const char* ext : {".gz", ""}) {
    std::string uri = tos::JoinPath(dir, stem + ext);
    TOS_ASSIGN_OR_RETURN(bool exists, fs->Exists(uri));
    if (exists) return uri;
  }
  return tos::NotFound(tos::JoinPath(dir, stem) + "[.gz]: IDX file not found");
}

Result<std::string> ResolveInput(const Options& o) {
  if (!o.input.empty()) return o.input;
  TOS_ASSIGN_OR_RETURN(tos::FileSystem * fs, tos::GetFileSystem(kDefaultInput));
  TOS_ASSIGN_OR_RETURN(bool exists, fs->IsDirectory(kDefaultInput));
  if (exists) return std::string(kDefaultInput);
  return tos::NotFound(
      std::string("no input data: ") + kDefaultInput +
      " does not exist. Install Debian's Fashion-MNIST (apt-get install dataset-fashion-mnist) "
      "or pass --input DIR holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
      "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (raw or gzip-compressed)");
}

Status LoadSplits(const std::string& input, std::vector<Split>* splits) {
  std::vector<Status> status(splits->size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < splits->size(); ++i) {
    threads.emplace_back([&, i] {
      Split& s = (*splits)[i];
      auto images = FindIdxFile(input, s.prefix + "-images-idx3-ubyte");
      auto labels = FindIdxFile(input, s.prefix + "-labels-idx1-ubyte");
      if (!images.ok()) return void(status[i] = images.status());
      if (!labels.ok()) return void(status[i] = labels.status());
      auto data = tos::ReadMnistIdx(*images, *labels);
      if (!data.ok()) return void(status[i] = data.status());
      s.data = std::move(data).value();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) TOS_RETURN_IF_ERROR(s);
  return Status::OK();
}

// Where a split lives: images dir (the dataset dir for csv2/tfr) and labels dir (csv, pickle).
void SplitDirs(const Options& o, DataFormat f, const std::string& split, std::string* images,
               std::string* labels) {
  std::string root = tos::JoinPath(o.output, split);
  if (f == DataFormat::kCsv || f == DataFormat::kPickle) {
    *images = tos::JoinPath(root, "images");
    *labels = tos::JoinPath(root, "labels");
  } else {
    *images = root;
    labels->clear();
  }
}

Status WriteSplits(const Options& o, DataFormat f, const std::vector<Split>& splits) {
  // Refuse before writing anything if any target already holds a dataset.
  if (!o.overwrite) {
    for (const Split& s : splits) {
      std::string images, labels;
      SplitDirs(o, f, s.name, &images, &labels);
      std::string root = tos::JoinPath(o.output, s.name);
      for (const std::string& dir :
           {root, tos::JoinPath(root, "images"), tos::JoinPath(root, "labels")}) {
        TOS_ASSIGN_OR_RETURN(bool holds, tos::HoldsDataset(dir));
        if (holds) {
          return tos::AlreadyExists(dir + " already holds a dataset (part files or " +
                                    std::string(tos::kSuccessMarker) +
                                    "); pass --overwrite to replace it");
        }
      }
    }
  }
  for (const Split& s : splits) {
    tos::MnistWriteOptions w;
    w.format = f;
    SplitDirs(o, f, s.name, &w.images, &w.labels);
    w.num_partitions = o.num_partitions;
    w.compression = o.gzip ? tos::Compression::kGzip : tos::Compression::kNone;
    w.overwrite = o.overwrite;
    if (o.overwrite) {
      // A dataset of another format may sit in the same split directory: clear ours all.
      std::string root = tos::JoinPath(o.output, s.name);
      TOS_RETURN_IF_ERROR(tos::RemoveDataset(tos::JoinPath(root, "images")));
      TOS_RETURN_IF_ERROR(tos::RemoveDataset(tos::JoinPath(root, "labels")));
      TOS_RETURN_IF_ERROR(tos::RemoveDataset(root));
    }
    auto start = std::chrono::steady_clock::now();
    TOS_ASSIGN_OR_RETURN(
        tos::MnistWriteStats stats,
        tos::WriteMnistDataset(w, s.data.images.data(), s.data.labels.data(), s.data.n));
    double secs = Seconds(start);
    std::printf("wrote %s (%s): %s%s%s\n", s.name.c_str(), tos::DataFormatName(f), w.images.c_str(),
                w.labels.empty() ? "" : " + ", w.labels.c_str());
    std::printf(
        "  %llu records in %zu partitions, %llu bytes, %.3f s (%.0f records/s, %.1f MB/s)\n",
        static_cast<unsigned long long>(stats.records), stats.partitions,
        static_cast<unsigned long long>(stats.bytes), secs, secs > 0 ? stats.records / secs : 0.0,
        secs > 0 ? stats.bytes / secs / 1e6 : 0.0);
  }
  return Status::OK();
}

uint64_t RecordHash(const uint8_t* rec) {
  return uint64_t{tos::Crc32c(rec, tos::kMnistRecordBytes)} << 32 |
         tos::Crc32cExtend(0x9e3779b9u, rec, tos::kMnistRecordBytes);
}

void SourceRecord(const MnistArrays& src, size_t r, uint8_t* rec) {
  rec[0] = src.labels[r];
  std::memcpy(rec + 1, src.images.data() + r * tos::kMnistPixels, tos::kMnistPixels);
}

std::string Describe(const uint8_t* rec) {
  std::string s = "label " + std::to_string(rec[0]) + " | row 14:";
  for (size_t c = 0; c < 28; ++c) s += " " + std::to_string(rec[1 + 14 * 28 + c]);
  return s;
}

// Re-reads one partition to say exactly how record `local` differs from the source.
Status ExplainMismatch(const tos::MnistDataset& ds, size_t part, size_t local, size_t global,
                       const MnistArrays& src) {
  TOS_ASSIGN_OR_RETURN(auto reader, ds.OpenPartition(part));
  uint8_t rec[tos::kMnistRecordBytes], want[tos::kMnistRecordBytes];
  for (size_t k = 0; k <= local; ++k) {
    TOS_ASSIGN_OR_RETURN(bool more, reader->Next(rec));
    if (!more) return tos::DataLoss(ds.partition_path(part) + ": changed while being verified");
  }
  SourceRecord(src, global, want);
  std::string where = ds.partition_path(part) + ": record " + std::to_string(local) +
                      " (dataset record " + std::to_string(global) + ")";
  if (rec[0] != want[0]) {
    return tos::DataLoss(where + " has label " + std::to_string(rec[0]) + ", the IDX source has " +
                         std::to_string(want[0]));
  }
  for (size_t p = 1; p < tos::kMnistRecordBytes; ++p) {
    if (rec[p] != want[p]) {
      return tos::DataLoss(where + " has pixel " + std::to_string(p - 1) + " = " +
                           std::to_string(rec[p]) + ", the IDX source has " +
                           std::to_string(want[p]));
    }
  }
  return tos::DataLoss(where + " differs from the IDX source");
}

Status VerifySplit(const Options& o, DataFormat f, const Split& split) {
  tos::MnistDatasetSpec spec;
  spec.format = f;
  spec.allow_incomplete = o.allow_incomplete;
  SplitDirs(o, f, split.name, &spec.images, &spec.labels);
  auto start = std::chrono::steady_clock::now();
  TOS_ASSIGN_OR_RETURN(auto ds, tos::MnistDataset::Open(spec));
  const size_t parts = ds->num_partitions();

  // Partitions are read in parallel; each keeps one hash per record, compared in global order.
  std::vector<std::vector<uint64_t>> hashes(parts);
  std::vector<Status> status(parts);
  std::vector<std::array<uint8_t, tos::kMnistRecordBytes>> first;  // samples from part 0
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < parts;) {
      auto reader = ds->OpenPartition(i);
      if (!reader.ok()) {
        status[i] = reader.status();
        continue;
      }
      std::array<uint8_t, tos::kMnistRecordBytes> rec;
      for (;;) {
        auto more = (*reader)->Next(rec.data());
        if (!more.ok()) {
          status[i] = more.status();
          break;
        }
        if (!*more) break;
        hashes[i].push_back(RecordHash(rec.data()));
      }
    }
  };
  size_t nthreads =
      std::max<size_t>(1, std::min<size_t>(parts, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < nthreads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (const Status& s : status) TOS_RETURN_IF_ERROR(s);
  double secs = Seconds(start);

  size_t total = 0;
  for (const auto& h : hashes) total += h.size();
  std::printf("read %s (%s): %s%s%s: %zu partitions, %.3f s\n", split.name.c_str(),
              tos::DataFormatName(f), spec.images.c_str(), spec.labels.empty() ? "" : " + ",
              spec.labels.c_str(), parts, secs);
  std::printf("  num_images: %zu\n  num_labels: %zu\n", total, total);
  uint8_t want[tos::kMnistRecordBytes];
  for (size_t r = 0; r < std::min<size_t>(3, std::min(total, split.data.n)); ++r) {
    SourceRecord(split.data, r, want);
    std::printf("  sample %zu: %s\n", r, Describe(want).c_str());
  }
  if (total != split.data.n) {
    return tos::DataLoss(spec.images + ": the dataset holds " + std::to_string(total) +
                         " records but the IDX source has " + std::to_string(split.data.n));
  }
  size_t global = 0;
  for (size_t p = 0; p < parts; ++p) {
    for (size_t k = 0; k < hashes[p].size(); ++k, ++global) {
      SourceRecord(split.data, global, want);
      if (hashes[p][k] != RecordHash(want)) return ExplainMismatch(*ds, p, k, global, split.data);
    }
  }
  std::printf("  verified: every record matches the IDX source in order\n");
  return Status::OK();
}

int Fail(const Status& s) {
  std::fprintf(stderr, "mnist_data_setup: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Converts MNIST-family IDX files to csv, csv2, tfr or pickle partitioned datasets"};
  app.add_option("-f,--format", o.format, "output format: csv, csv2, tf, tfr, pickle")
      ->check(CLI::IsMember({"csv", "csv2", "tf", "tfr", "pickle"}))
      ->capture_default_str();
  app.add_option("-n,--num-partitions", o.num_partitions, "number of output partitions")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("-o,--output", o.output, "output directory (train/ and test/ go under it)")
      ->capture_default_str();
  app.add_flag("-r,--read", o.read, "read and verify existing output instead of writing");
  app.add_flag("-v,--verify", o.verify, "read the output back after writing and verify it");
  app.add_option("--input", o.input,
                 "directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (default " +
                     std::string(kDefaultInput) + ")");
  app.add_flag("--overwrite", o.overwrite, "replace datasets already in the output directory");
  app.add_flag("--gzip", o.gzip, "gzip-compress TFRecord parts (tfr only)");
  app.add_flag("--allow-incomplete", o.allow_incomplete,
               "with --read, accept datasets without _SUCCESS or with missing parts");
  CLI11_PARSE(app, argc, argv);

  auto format = tos::ParseDataFormat(o.format);
  if (!format.ok()) return Fail(format.status());
  if (o.gzip && *format != DataFormat::kTfr) {
    std::fprintf(stderr, "mnist_data_setup: --gzip applies to the tfr format only\n");
    return 2;
  }

  // Relative to fs.defaultFS, as TensorFlowOnSpark's paths are (hdfs://NN/user/<user>/...).
  auto output = tos::ResolvePath(o.output);
  if (!output.ok()) return Fail(output.status());
  o.output = *output;
  auto input = ResolveInput(o);
  if (!input.ok()) return Fail(input.status());
  std::vector<Split> splits(2);
  splits[0].name = "train";
  splits[0].prefix = "train";
  splits[1].name = "test";
  splits[1].prefix = "t10k";
  auto start = std::chrono::steady_clock::now();
  Status s = LoadSplits(*input, &splits);
  if (!s.ok()) return Fail(s);
  std::printf("read IDX from %s: %zu train + %zu test images, %.3f s\n", input->c_str(),
              splits[0].data.n, splits[1].data.n, Seconds(start));

  if (!o.read) {
    s = WriteSplits(o, *format, splits);
    if (!s.ok()) return Fail(s);
  }
  if (o.read || o.verify) {
    for (const Split& split : splits) {
      s = VerifySplit(o, *format, split);
      if (!s.ok()) return Fail(s);
    }
  }
  std::printf("total %.3f s\n", Seconds(start));
  return 0;
}
