// A partitioned dataset of byte records: what the driver feeds to the nodes and what direct
// mode reads. Partitions keep their order; records keep their order within a partition.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos {

class PartitionReader {
 public:
  virtual ~PartitionReader() = default;
  // Sets *record to the next record (valid until the next call) and returns true, or returns
  // false at the end of the partition. DataLoss naming the file and offset on corrupt data.
  virtual Result<bool> Next(std::string_view* record) = 0;
};

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  virtual size_t num_partitions() const = 0;
  // Thread-safe: different partitions may be opened and read from different threads at once.
  virtual Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t index) const = 0;
  virtual std::string Describe() const = 0;  // for messages: "data/train (csv, 10 parts)"
  // How the records are encoded for the nodes' feeds (Batch::encoding()): "bytes", "text" or
  // "tuple" (tos/tuple_record.h).
  virtual std::string encoding() const { return "bytes"; }
};

class BufferedReader;

// The lines of one text file, front to back, each without its "\n" (or "\r\n"); a name ending
// in ".gz" is read through gzip. A line longer than 64 MiB is DataLoss (a binary file read as
// text). Any URI a registered FileSystem serves works.
class TextFileReader final : public PartitionReader {
 public:
  static Result<std::unique_ptr<TextFileReader>> Open(const std::string& uri);
  ~TextFileReader() override;
  // The view stays valid until the next call. A last line without "\n" is returned.
  Result<bool> Next(std::string_view* line) override;
  // 1-based number of the line last returned; 0 before the first.
  uint64_t line_number() const;
  const std::string& path() const;
  // "path: line N", for messages about the line last returned.
  std::string Where() const;

 private:
  explicit TextFileReader(std::unique_ptr<BufferedReader> in);
  std::unique_ptr<BufferedReader> in_;
};

// Records held in memory, one vector per partition (tests, small inputs).
class VectorRecordSource : public RecordSource {
 public:
  explicit VectorRecordSource(std::vector<std::vector<std::string>> partitions,
                              std::string encoding = "bytes")
      : partitions_(std::move(partitions)), encoding_(std::move(encoding)) {}
  size_t num_partitions() const override { return partitions_.size(); }
  Result<std::unique_ptr<PartitionReader>> OpenPartition(size_t index) const override;
  std::string Describe() const override;
  std::string encoding() const override { return encoding_; }

 private:
  std::vector<std::vector<std::string>> partitions_;
  std::string encoding_;
};

// Each line of each part-NNNNN file of a partitioned text directory is one record, as
// TextFileReader reads it; fed as "text" records. The directory is checked as
// ListPartFiles does (tos/partitioned_dir.h): no _SUCCESS or a missing part is refused unless
// allow_incomplete. Any URI a registered FileSystem serves works.
Result<std::unique_ptr<RecordSource>> OpenTextDataset(const std::string& dir,
                                                      bool allow_incomplete = false);

}  // namespace tos
