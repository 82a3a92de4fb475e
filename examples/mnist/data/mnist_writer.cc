// Writes an MNIST split as a partitioned dataset, one thread per partition at a time.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "mnist_dataset.h"
#include "mnist_pickle.h"
#include "tos/partitioned_dir.h"
#include "tos/tfrecord.h"

namespace tos {
namespace {

constexpr size_t kFlushBytes = 1 << 20;

struct PartRange {
  size_t begin, end;
};

// Spark's parallelize: partition i holds rows [i*n/p, (i+1)*n/p).
PartRange RangeOf(size_t i, size_t parts, size_t n) {
  return {static_cast<size_t>(static_cast<unsigned __int128>(i) * n / parts),
          static_cast<size_t>(static_cast<unsigned __int128>(i + 1) * n / parts)};
}

class IdxRecords {
 public:
  IdxRecords(const uint8_t* images, const uint8_t* labels) : images_(images), labels_(labels) {}
  // Canonical record of row r in a caller buffer.
  const uint8_t* Get(size_t r, uint8_t* buf) const {
    buf[0] = labels_[r];
    std::memcpy(buf + 1, images_ + r * kMnistPixels, kMnistPixels);
    return buf;
  }

 private:
  const uint8_t* images_;
  const uint8_t* labels_;
};

// Appends via `encode` into a buffer flushed to `file` every kFlushBytes.
template <typename Encode>
Status WriteText(WritableFile* file, const IdxRecords& src, PartRange range, Encode encode) {
  std::string buf;
  buf.reserve(kFlushBytes + 8 * kMnistRecordBytes);
  uint8_t rec[kMnistRecordBytes];
  for (size_t r = range.begin; r < range.end; ++r) {
    encode(src.Get(r, rec), &buf);
    if (buf.size() >= kFlushBytes) {
      TOS_RETURN_IF_ERROR(file->Append(buf));
      buf.clear();
    }
  }
  if (!buf.empty()) TOS_RETURN_IF_ERROR(file->Append(buf));
  return file->Close();
}

Status WritePartition(const MnistWriteOptions& o, const IdxRecords& src, size_t i,
                      PartRange range) {
  const std::string suffix = o.compression == Compression::kGzip ? ".gz" : "";
  const std::string name = PartFileName(i, suffix);
  TOS_ASSIGN_OR_RETURN(auto file, CreatePartFile(o.images, name, o.compression, o.gzip_level));
  switch (o.format) {
    case DataFormat::kCsv: {
      TOS_ASSIGN_OR_RETURN(auto labels,
                           CreatePartFile(o.labels, name, o.compression, o.gzip_level));
      TOS_RETURN_IF_ERROR(WriteText(file.get(), src, range, AppendMnistCsvImageLine));
      return WriteText(labels.get(), src, range, AppendMnistCsvLabelLine);
    }
    case DataFormat::kCsv2:
      return WriteText(file.get(), src, range, AppendMnistCsv2Line);
    case DataFormat::kTfr: {
      TfRecordWriter writer(std::move(file));
      std::string example;
      uint8_t rec[kMnistRecordBytes];
      for (size_t r = range.begin; r < range.end; ++r) {
        example.clear();
        AppendMnistExample(src.Get(r, rec), &example);
        TOS_RETURN_IF_ERROR(writer.Write(example));
      }
      return writer.Close();
    }
    case DataFormat::kPickle: {
      TOS_ASSIGN_OR_RETURN(auto labels, CreatePartFile(o.labels, name));
      return WriteMnistPicklePartition(std::move(file), std::move(labels), range.begin, range.end,
                                       [&src](size_t r, uint8_t* buf) { return src.Get(r, buf); });
    }
  }
  return Internal("unknown data format");
}

Result<uint64_t> DatasetBytes(const std::string& dir) {
  TOS_ASSIGN_OR_RETURN(std::vector<std::string> parts, ListPartFiles(dir, false));
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(dir));
  uint64_t total = 0;
  for (const auto& p : parts) {
    TOS_ASSIGN_OR_RETURN(uint64_t n, fs->GetFileSize(p));
    total += n;
  }
  return total;
}

Status PrepareDir(const std::string& dir, bool overwrite) {
  TOS_ASSIGN_OR_RETURN(bool holds, HoldsDataset(dir));
  if (holds) {
    if (!overwrite) {
      return AlreadyExists(dir + " already holds a dataset (part files or " +
                           std::string(kSuccessMarker) + "); pass --overwrite to replace it");
    }
    TOS_RETURN_IF_ERROR(RemoveDataset(dir));
  }
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(dir));
  return fs->CreateDirs(dir);
}

}  // namespace

Result<MnistWriteStats> WriteMnistDataset(const MnistWriteOptions& o, const uint8_t* images,
                                          const uint8_t* labels, size_t n) {
  if (o.num_partitions == 0) return InvalidArgument("the number of partitions must be >= 1");
  if (o.images.empty()) return InvalidArgument("MnistWriteOptions.images is empty");
  // csv and pickle keep labels in a directory of their own.
  const bool csv = o.format == DataFormat::kCsv || o.format == DataFormat::kPickle;
  if (csv && o.labels.empty()) {
    return InvalidArgument(std::string("the ") + DataFormatName(o.format) +
                           " format needs a labels directory (MnistWriteOptions.labels)");
  }
  for (size_t r = 0; r < n; ++r) {
    if (labels[r] > 9) {
      return InvalidArgument("label of row " + std::to_string(r) + " is " +
                             std::to_string(labels[r]) + ", expected 0..9");
    }
  }
  // Check every directory before touching any, so a refusal leaves everything as it was.
  if (!o.overwrite) {
    for (const std::string* dir : {&o.images, &o.labels}) {
      if (dir->empty() || (!csv && dir == &o.labels)) continue;
      TOS_ASSIGN_OR_RETURN(bool holds, HoldsDataset(*dir));
      if (holds) {
        return AlreadyExists(*dir + " already holds a dataset (part files or " +
                             std::string(kSuccessMarker) + "); pass --overwrite to replace it");
      }
    }
  }
  TOS_RETURN_IF_ERROR(PrepareDir(o.images, o.overwrite));
  if (csv) TOS_RETURN_IF_ERROR(PrepareDir(o.labels, o.overwrite));

  const IdxRecords src(images, labels);
  size_t threads =
      o.num_threads ? o.num_threads : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, o.num_partitions);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;
  auto work = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= o.num_partitions || failed.load()) return;
      Status s = WritePartition(o, src, i, RangeOf(i, o.num_partitions, n));
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = s.WithContext("writing partition " + std::to_string(i));
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (!first_error.ok()) return first_error;

  TOS_RETURN_IF_ERROR(WriteSuccessMarker(o.images));
  if (csv) TOS_RETURN_IF_ERROR(WriteSuccessMarker(o.labels));

  MnistWriteStats stats;
  stats.records = n;
  stats.partitions = o.num_partitions;
  TOS_ASSIGN_OR_RETURN(stats.bytes, DatasetBytes(o.images));
  if (csv) {
    TOS_ASSIGN_OR_RETURN(uint64_t label_bytes, DatasetBytes(o.labels));
    stats.bytes += label_bytes;
  }
  return stats;
}

}  // namespace tos
