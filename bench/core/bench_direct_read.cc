// Direct-mode read throughput: one worker's ShardReader over an MNIST dataset (csv or tfr),
// from any file system the dataset's URI names (a local directory, hdfs://, webhdfs://). Prints
// one JSON line: records, bytes, seconds, records/s and MB/s.
//
//   bench_direct_read --format tfr --images hdfs://NN/user/me/mnist/tfr/train --readers 2
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "mnist_dataset.h"
#include "tos/fs.h"
#include "tos/shard_reader.h"

namespace {

// Bytes of the dataset's files (what the readers fetch), by the file system's content summary.
uint64_t DatasetBytes(const std::string& dir) {
  if (dir.empty()) return 0;
  auto fs = tos::GetFileSystem(dir);
  if (!fs.ok()) return 0;
  auto summary = (*fs)->GetContentSummary(dir);
  return summary.ok() ? summary->bytes : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"direct-mode read throughput of an MNIST dataset"};
  std::string format = "tfr", images, labels;
  int readers = 1, repeat = 1;
  app.add_option("--format", format, "csv, csv2 or tfr");
  app.add_option("--images", images, "dataset directory (csv: the images directory)")->required();
  app.add_option("--labels", labels, "csv: the labels directory");
  app.add_option("--readers", readers, "partitions read in parallel");
  app.add_option("--repeat", repeat, "passes over the dataset (epochs)");
  CLI11_PARSE(app, argc, argv);

  tos::MnistDatasetSpec spec;
  auto parsed = tos::ParseDataFormat(format);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().ToString().c_str());
    return 2;
  }
  spec.format = *parsed;
  for (std::string* path : {&images, &labels}) {  // as the jobs resolve them (fs.defaultFS)
    if (path->empty()) continue;
    auto resolved = tos::ResolvePath(*path);
    if (!resolved.ok()) {
      std::fprintf(stderr, "%s\n", resolved.status().ToString().c_str());
      return 2;
    }
    *path = *resolved;
  }
  spec.images = images;
  spec.labels = labels;
  const auto start = std::chrono::steady_clock::now();
  auto source = tos::OpenMnistRecordSource(spec);
  if (!source.ok()) {
    std::fprintf(stderr, "%s\n", source.status().ToString().c_str());
    return 1;
  }
  tos::ShardReaderOptions o;
  o.readers = readers;
  o.epochs = repeat;
  auto reader =
      tos::ShardReader::Open(std::shared_ptr<const tos::RecordSource>(std::move(*source)), o);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> batch;
  uint64_t records = 0;
  for (;;) {
    auto more = (*reader)->NextBatch(100, &batch);
    if (!more.ok()) {
      std::fprintf(stderr, "%s\n", more.status().ToString().c_str());
      return 1;
    }
    if (!*more) break;
    records += batch.size();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t bytes = (DatasetBytes(images) + DatasetBytes(labels)) * repeat;
  std::printf(
      "{\"format\": \"%s\", \"readers\": %d, \"records\": %llu, \"bytes\": %llu, \"seconds\": "
      "%.3f, \"records_per_s\": %.0f, \"mb_per_s\": %.1f}\n",
      format.c_str(), readers, static_cast<unsigned long long>(records),
      static_cast<unsigned long long>(bytes), secs, records / secs, bytes / secs / 1e6);
  return 0;
}
