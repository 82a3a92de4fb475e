// bench_formats: MNIST data conversion and reading throughput on the full Fashion-MNIST
// (70,000 images), for each dataset format, with a naive iostream csv2 writer/reader measured
// in the same run as the reference point.
//
//   bench_formats [--input DIR] [--dir SCRATCH] [--reps N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "idx.h"
#include "mnist_dataset.h"
#include "tos/fs.h"
#include "tos/partitioned_dir.h"
#include "tos/tfrecord.h"

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

[[noreturn]] void Die(const tos::Status& s) {
  std::fprintf(stderr, "bench_formats: %s\n", s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Check(tos::Result<T> r) {
  if (!r.ok()) Die(r.status());
  return std::move(r).value();
}

struct Split {
  std::string name;
  tos::MnistArrays data;
};

struct Variant {
  const char* label;
  tos::DataFormat format;
  tos::Compression compression;
};

void Dirs(const std::string& root, const Variant& v, const std::string& split, std::string* images,
          std::string* labels) {
  std::string base = root + "/" + v.label + "/" + split;
  *images = v.format == tos::DataFormat::kCsv ? base + "/images" : base;
  *labels = v.format == tos::DataFormat::kCsv ? base + "/labels" : "";
}

struct ReadResult {
  uint64_t records = 0;
  double seconds = 0;
};

ReadResult ReadBack(const std::string& root, const Variant& v, const std::vector<Split>& splits,
                    size_t threads) {
  ReadResult out;
  auto start = Clock::now();
  for (const Split& s : splits) {
    tos::MnistDatasetSpec spec;
    spec.format = v.format;
    Dirs(root, v, s.name, &spec.images, &spec.labels);
    auto ds = Check(tos::MnistDataset::Open(spec));
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> records{0};
    auto work = [&] {
      uint8_t rec[tos::kMnistRecordBytes];
      uint64_t n = 0;
      for (size_t i; (i = next.fetch_add(1)) < ds->num_partitions();) {
        auto reader = Check(ds->OpenPartition(i));
        while (Check(reader->Next(rec))) ++n;
      }
      records += n;
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    out.records += records.load();
  }
  out.seconds = Since(start);
  return out;
}

void Row(const char* what, uint64_t records, uint64_t bytes, double secs, const char* note = "") {
  std::printf("%-34s %9llu %8.3f %12.0f %9.1f  %s\n", what,
              static_cast<unsigned long long>(records), secs, records / secs, bytes / secs / 1e6,
              note);
}

// ---- the naive reference: what a straightforward iostream program does ----

double NaiveCsv2Write(const std::string& path, const tos::MnistArrays& d) {
  auto start = Clock::now();
  std::ofstream out(path);
  for (size_t r = 0; r < d.n; ++r) {
    out << int(d.labels[r]) << '|';
    for (size_t p = 0; p < tos::kMnistPixels; ++p) {
      if (p) out << ',';
      out << int(d.images[r * tos::kMnistPixels + p]);
    }
    out << '\n';
  }
  out.close();
  return Since(start);
}

double NaiveCsv2Read(const std::string& path, size_t* records) {
  auto start = Clock::now();
  std::ifstream in(path);
  std::string line, tok;
  std::vector<uint8_t> rec(tos::kMnistRecordBytes);
  size_t n = 0;
  while (std::getline(in, line)) {
    size_t bar = line.find('|');
    rec[0] = static_cast<uint8_t>(std::stoi(line.substr(0, bar)));
    std::stringstream ss(line.substr(bar + 1));
    size_t p = 0;
    while (std::getline(ss, tok, ',') && p < tos::kMnistPixels) {
      rec[1 + p++] = static_cast<uint8_t>(std::stoi(tok));
    }
    ++n;
  }
  *records = n;
  return Since(start);
}

}  // namespace

int main(int argc, char** argv) {
  std::string input = "/usr/share/datasets/fashion-mnist";
  std::string scratch;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--input" && i + 1 < argc)
      input = argv[++i];
    else if (a == "--dir" && i + 1 < argc)
      scratch = argv[++i];
    else if (a == "--reps" && i + 1 < argc)
      reps = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_formats [--input DIR] [--dir SCRATCH] [--reps N]\n");
      return 2;
    }
  }
  bool own_scratch = scratch.empty();
  if (own_scratch) {
    char tmpl[] = "/tmp/tos_bench_formats_XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    scratch = tmpl;
  }
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());

  // ---- IDX load ----
  std::vector<Split> splits(2);
  splits[0].name = "train";
  splits[1].name = "test";
  double load_best = 1e9;
  for (int r = 0; r < reps; ++r) {
    auto start = Clock::now();
    splits[0].data = Check(tos::ReadMnistIdx(input + "/train-images-idx3-ubyte.gz",
                                             input + "/train-labels-idx1-ubyte.gz"));
    splits[1].data = Check(tos::ReadMnistIdx(input + "/t10k-images-idx3-ubyte.gz",
                                             input + "/t10k-labels-idx1-ubyte.gz"));
    load_best = std::min(load_best, Since(start));
  }
  const uint64_t total = splits[0].data.n + splits[1].data.n;
  const uint64_t idx_bytes = total * (tos::kMnistPixels + 1);

  std::printf("bench_formats: %llu images (train+test) from %s, %zu cores, best of %d\n\n",
              static_cast<unsigned long long>(total), input.c_str(), cores, reps);
  std::printf("%-34s %9s %8s %12s %9s\n", "operation", "records", "seconds", "records/s", "MB/s");
  Row("IDX gunzip+parse (1 thread)", total, idx_bytes, load_best, "MB/s of decoded IDX");

  const Variant variants[] = {
      {"csv", tos::DataFormat::kCsv, tos::Compression::kNone},
      {"csv2", tos::DataFormat::kCsv2, tos::Compression::kNone},
      {"tfr", tos::DataFormat::kTfr, tos::Compression::kNone},
      {"tfr+gzip", tos::DataFormat::kTfr, tos::Compression::kGzip},
  };
  struct Summary {
    const char* label;
    double write, read1, readn;
  };
  std::vector<Summary> summary;
  for (const Variant& v : variants) {
    double best = 1e9;
    uint64_t bytes = 0;
    for (int r = 0; r < reps; ++r) {
      bytes = 0;
      auto start = Clock::now();
      for (const Split& s : splits) {
        tos::MnistWriteOptions o;
        o.format = v.format;
        o.compression = v.compression;
        o.num_partitions = 10;
        o.overwrite = true;
        Dirs(scratch, v, s.name, &o.images, &o.labels);
        auto stats =
            Check(tos::WriteMnistDataset(o, s.data.images.data(), s.data.labels.data(), s.data.n));
        bytes += stats.bytes;
      }
      best = std::min(best, Since(start));
    }
    std::string what =
        std::string("write ") + v.label + " (10 parts, " + std::to_string(cores) + " threads)";
    Row(what.c_str(), total, bytes, best, "MB/s written");
    double r1 = 1e9, rn = 1e9;
    for (int r = 0; r < reps; ++r) {
      ReadResult a = ReadBack(scratch, v, splits, 1);
      ReadResult b = ReadBack(scratch, v, splits, cores);
      if (a.records != total || b.records != total) {
        std::fprintf(stderr, "bench_formats: read %llu records of %s, expected %llu\n",
                     static_cast<unsigned long long>(a.records), v.label,
                     static_cast<unsigned long long>(total));
        return 1;
      }
      r1 = std::min(r1, a.seconds);
      rn = std::min(rn, b.seconds);
    }
    what = std::string("read ") + v.label + " (1 thread)";
    Row(what.c_str(), total, bytes, r1, "MB/s read");
    what = std::string("read ") + v.label + " (" + std::to_string(cores) + " threads)";
    Row(what.c_str(), total, bytes, rn, "MB/s read");
    summary.push_back({v.label, best, r1, rn});
  }

  // ---- decode only (the feed path: records already in memory) ----
  {
    const tos::MnistArrays& d = splits[0].data;
    std::vector<std::string> examples(d.n), csv2(d.n), img(d.n), lab(d.n);
    uint8_t rec[tos::kMnistRecordBytes];
    for (size_t r = 0; r < d.n; ++r) {
      rec[0] = d.labels[r];
      std::memcpy(rec + 1, &d.images[r * tos::kMnistPixels], tos::kMnistPixels);
      tos::AppendMnistExample(rec, &examples[r]);
      tos::AppendMnistCsv2Line(rec, &csv2[r]);
      csv2[r].pop_back();
      tos::AppendMnistCsvImageLine(rec, &img[r]);
      img[r].pop_back();
      tos::AppendMnistCsvLabelLine(rec, &lab[r]);
      lab[r].pop_back();
    }
    auto time_decode = [&](auto fn, uint64_t* bytes) {
      double best = 1e9;
      for (int r = 0; r < reps; ++r) {
        *bytes = 0;
        auto start = Clock::now();
        for (size_t i = 0; i < d.n; ++i) {
          tos::Status s = fn(i, rec, bytes);
          if (!s.ok()) Die(s);
        }
        best = std::min(best, Since(start));
      }
      return best;
    };
    uint64_t bytes = 0;
    double t = time_decode(
        [&](size_t i, uint8_t* out, uint64_t* b) {
          *b += examples[i].size();
          return tos::DecodeMnistExample(examples[i], out);
        },
        &bytes);
    std::printf("\n");
    Row("decode Example (in memory, 1 thr)", d.n, bytes, t);
    t = time_decode(
        [&](size_t i, uint8_t* out, uint64_t* b) {
          *b += csv2[i].size();
          return tos::DecodeMnistCsv2Line(csv2[i], out);
        },
        &bytes);
    Row("decode csv2 line (in memory)", d.n, bytes, t);
    t = time_decode(
        [&](size_t i, uint8_t* out, uint64_t* b) {
          *b += img[i].size() + lab[i].size();
          return tos::DecodeMnistCsvPair(img[i], lab[i], out);
        },
        &bytes);
    Row("decode csv pair (in memory)", d.n, bytes, t);
  }

  // ---- reference: naive iostream csv2, one file, one thread; ours the same way ----
  {
    const tos::MnistArrays& d = splits[0].data;
    std::string naive_path = scratch + "/naive.csv2";
    double naive_w = 1e9, naive_r = 1e9;
    size_t naive_records = 0;
    for (int r = 0; r < std::min(reps, 2); ++r) {
      naive_w = std::min(naive_w, NaiveCsv2Write(naive_path, d));
      naive_r = std::min(naive_r, NaiveCsv2Read(naive_path, &naive_records));
    }
    uint64_t naive_bytes = Check(Check(tos::GetFileSystem(naive_path))->GetFileSize(naive_path));
    Variant one{"csv2-1part", tos::DataFormat::kCsv2, tos::Compression::kNone};
    double ours_w = 1e9;
    for (int r = 0; r < reps; ++r) {
      tos::MnistWriteOptions o;
      o.format = one.format;
      o.num_partitions = 1;
      o.num_threads = 1;
      o.overwrite = true;
      Dirs(scratch, one, "train", &o.images, &o.labels);
      auto start = Clock::now();
      Check(tos::WriteMnistDataset(o, d.images.data(), d.labels.data(), d.n));
      ours_w = std::min(ours_w, Since(start));
    }
    std::vector<Split> train_only(1);
    train_only[0].name = "train";
    double ours_r = 1e9;
    for (int r = 0; r < reps; ++r)
      ours_r = std::min(ours_r, ReadBack(scratch, one, train_only, 1).seconds);
    std::printf("\nreference: train split as csv2 in one file, one thread\n");
    Row("naive iostream write", d.n, naive_bytes, naive_w);
    Row("tos write", d.n, naive_bytes, ours_w);
    Row("naive getline+stoi read", naive_records, naive_bytes, naive_r);
    Row("tos read", d.n, naive_bytes, ours_r);
    std::printf("speed-up: write %.1fx, read %.1fx\n", naive_w / ours_w, naive_r / ours_r);
  }

  std::printf("\nfull conversion (IDX load + write train+test, 10 partitions), target < 2 s:\n");
  for (const Summary& s : summary) {
    double conv = load_best + s.write;
    std::printf("  %-9s %.3f s  %s\n", s.label, conv, conv < 2.0 ? "ok" : "OVER TARGET");
  }

  if (own_scratch) {
    std::string cmd = "rm -rf '" + scratch + "'";
    if (std::system(cmd.c_str()) != 0)
      std::fprintf(stderr, "could not remove %s\n", scratch.c_str());
  }
  return 0;
}
