// MNIST-family datasets in the layouts TensorFlowOnSpark's mnist_data_setup writes, read and
// written as partitioned directories (tos/partitioned_dir.h). Spec: docs/formats.md.
//
// Every record is handed around in one canonical form: kMnistRecordBytes bytes, byte 0 the label
// (0..9), bytes 1..784 the pixels row-major. Decoders write that form; encoders read it.
//
// Threading: MnistDataset is immutable after Open; OpenPartition may be called from any thread
// and different partitions read concurrently. A partition reader belongs to one thread.
// Memory: a reader holds one read buffer (256 KiB, grown only for longer lines/records), never
// the partition or the dataset.
// Errors: Status/Result; data errors are DataLoss naming the file and the line or byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tos/compression.h"
#include "tos/status.h"

namespace tos {

enum class DataFormat { kCsv, kCsv2, kTfr, kPickle };

// "csv", "csv2", "tf", "tfr", "pickle" (case-sensitive). InvalidArgument lists the choices.
Result<DataFormat> ParseDataFormat(const std::string& name);
const char* DataFormatName(DataFormat f);  // "csv", "csv2", "tfr", "pickle"

constexpr size_t kMnistPixels = 784;
constexpr size_t kMnistClasses = 10;
constexpr size_t kMnistRecordBytes = 785;  // canonical record: byte 0 = label 0..9, 1..784 = pixels

struct MnistDatasetSpec {
  DataFormat format = DataFormat::kCsv;
  std::string images;             // dataset directory (csv: the images directory)
  std::string labels;             // csv only: the labels directory
  bool allow_incomplete = false;  // read a directory without _SUCCESS / with missing parts
};

class MnistPartitionReader {
 public:
  virtual ~MnistPartitionReader() = default;
  // Decodes the next record of the partition into out[kMnistRecordBytes]; false at end of
  // partition. Blocks on file reads.
  virtual Result<bool> Next(uint8_t* out) = 0;
};

class MnistDataset {
 public:
  // Lists the parts and checks _SUCCESS (no part is read yet).
  static Result<std::unique_ptr<MnistDataset>> Open(const MnistDatasetSpec& spec);

  size_t num_partitions() const { return images_.size(); }
  const std::string& partition_path(size_t i) const { return images_[i]; }
  const MnistDatasetSpec& spec() const { return spec_; }

  // Thread-safe: different partitions may be opened and read concurrently from different threads.
  // Part files ending in ".gz" are read as gzip.
  Result<std::unique_ptr<MnistPartitionReader>> OpenPartition(size_t i) const;

 private:
  MnistDataset() = default;
  MnistDatasetSpec spec_;
  std::vector<std::string> images_;  // part URIs (csv: images parts)
  std::vector<std::string> labels_;  // csv: labels parts
};

// ---- one record in each text/binary form (no file context in errors: callers prefix it) ----

// "label|p0,p1,...,p783": label an int 0..9, pixels ints 0..255.
Status DecodeMnistCsv2Line(std::string_view line, uint8_t* out);
// Image line "p0,...,p783"; label line 10 comma-separated numbers, exactly one of them 1 and the
// rest 0 ("0.0,...,1.0,..."; "0"/"1" are accepted too).
Status DecodeMnistCsvPair(std::string_view image_line, std::string_view label_line, uint8_t* out);
// A serialized tf.train.Example with int64 features "image" (784 values 0..255) and "label"
// (10 values one-hot, or 1 value 0..9). Packed and unpacked encodings are both accepted; other
// features are ignored.
Status DecodeMnistExample(std::string_view example_bytes, uint8_t* out);

// Encoders append one record (canonical form) in each form. Text lines end with "\n".
void AppendMnistCsvImageLine(const uint8_t* record, std::string* out);
void AppendMnistCsvLabelLine(const uint8_t* record, std::string* out);
void AppendMnistCsv2Line(const uint8_t* record, std::string* out);
// Example{features{feature{"image": int64_list[784]}, feature{"label": int64_list[10] one-hot}}}
// with packed int64 lists, "image" first.
void AppendMnistExample(const uint8_t* record, std::string* out);

// ---- writing a dataset ----

struct MnistWriteOptions {
  DataFormat format = DataFormat::kCsv;
  std::string images;  // dataset directory (csv: images directory)
  std::string labels;  // csv only
  size_t num_partitions = 10;
  Compression compression = Compression::kNone;  // kGzip names parts "part-00000.gz"
  int gzip_level = 1;      // zlib level; 1 is ~5x faster than 6 and any level reads back the same
  bool overwrite = false;  // else a directory that holds a dataset is AlreadyExists
  size_t num_threads = 0;  // 0: one per core, at most one per partition
};

struct MnistWriteStats {
  uint64_t records = 0;
  uint64_t bytes = 0;  // on disk, all parts of all directories
  size_t partitions = 0;
};

// Writes n records (images: n*784 pixels, labels: n values 0..9) as num_partitions parts in
// parallel, row r going to partition floor(r * num_partitions / n)-style contiguous ranges
// (as Spark's parallelize splits), then _SUCCESS. On failure no _SUCCESS is written and no
// temporary is left behind.
Result<MnistWriteStats> WriteMnistDataset(const MnistWriteOptions& options, const uint8_t* images,
                                          const uint8_t* labels, size_t n);

}  // namespace tos

#include "tos/record_source.h"

namespace tos {

// The dataset as a RecordSource of canonical kMnistRecordBytes records (label byte, then
// 784 pixel bytes): what the driver feeds and what direct mode shards.
Result<std::unique_ptr<RecordSource>> OpenMnistRecordSource(const MnistDatasetSpec& spec);

}  // namespace tos
