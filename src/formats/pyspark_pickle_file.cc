// Hadoop SequenceFile (version 6, uncompressed) of Java-serialized byte[][] values holding
// pickled PySpark batches: the saveAsPickleFile layout (docs/formats.md, "pickle").
#include "tos/pyspark_pickle_file.h"

#include <deque>
#include <random>

#include "io/buffered_reader.h"

namespace tos {
namespace {

constexpr char kNullWritable[] = "org.apache.hadoop.io.NullWritable";
constexpr char kBytesWritable[] = "org.apache.hadoop.io.BytesWritable";
constexpr size_t kSyncSize = 16;
constexpr uint64_t kSyncInterval = uint64_t{100} * 1024;  // Hadoop's SYNC_INTERVAL
constexpr uint32_t kMaxRecord = 1u << 30;
constexpr size_t kPicklesPerRecord = 10;  // Spark's saveAsObjectFile groups 10

// Java serialization (java.io.ObjectStreamConstants) of the byte[][] Spark writes.
constexpr unsigned char kTcNull = 0x70, kTcReference = 0x71, kTcClassDesc = 0x72, kTcArray = 0x75,
                        kTcEndBlockData = 0x78;
constexpr uint32_t kBaseHandle = 0x7e0000;
const char kByteArrayArraySuid[] = "\x4b\xfd\x19\x15\x67\x67\xdb\x37";  // "[[B"
const char kByteArraySuid[] = "\xac\xf3\x17\xf8\x06\x08\x54\xe0";       // "[B"

uint32_t BE32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (static_cast<uint32_t>(u[0]) << 24) | (u[1] << 16) | (u[2] << 8) | u[3];
}

void PutBE32(std::string* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<char>(v >> s));
}

void PutText(std::string* out, const std::string& s) {  // Hadoop Text: vint length (< 128 here)
  out->push_back(static_cast<char>(s.size()));
  *out += s;
}

// The pickles inside one Java-serialized byte[][] (views into `d`).
class JavaByteArrays {
 public:
  explicit JavaByteArrays(std::string_view d) : d_(d) {}

  Status Parse(std::vector<std::string_view>* out) {
    TOS_ASSIGN_OR_RETURN(uint32_t magic, U32());
    if (magic != 0xACED0005)
      return Err("not a Java serialization stream (magic " + Hex(magic) + ")");
    TOS_ASSIGN_OR_RETURN(unsigned char tc, U8());
    if (tc != kTcArray) return Err("expected an array (TC_ARRAY), found tag " + Hex(tc));
    TOS_ASSIGN_OR_RETURN(std::string cls, ClassDesc());
    if (cls != "[[B") return Err("expected a byte[][] (class [[B), found class " + cls);
    handles_.push_back("");  // the outer array
    TOS_ASSIGN_OR_RETURN(uint32_t n, U32());
    for (uint32_t k = 0; k < n; ++k) {
      TOS_ASSIGN_OR_RETURN(unsigned char t, U8());
      if (t == kTcNull) continue;
      if (t != kTcArray)
        return Err("element " + std::to_string(k) + ": expected a byte[] (TC_ARRAY), found tag " +
                   Hex(t));
      TOS_ASSIGN_OR_RETURN(std::string c, ClassDesc());
      if (c != "[B") return Err("element " + std::to_string(k) + ": expected class [B, found " + c);
      handles_.push_back("");
      TOS_ASSIGN_OR_RETURN(uint32_t len, U32());
      if (len > d_.size() - pos_)
        return Err("element " + std::to_string(k) + " of " + std::to_string(len) +
                   " bytes runs past the value");
      out->push_back(d_.substr(pos_, len));
      pos_ += len;
    }
    if (pos_ != d_.size())
      return Err(std::to_string(d_.size() - pos_) + " bytes after the byte[][]");
    return Status::OK();
  }

 private:
  static std::string Hex(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof(b), "0x%x", v);
    return b;
  }
  Status Err(const std::string& what) {
    return DataLoss("value byte " + std::to_string(pos_) + ": " + what);
  }
  Result<unsigned char> U8() {
    if (pos_ >= d_.size()) return Err("truncated Java serialization");
    return static_cast<unsigned char>(d_[pos_++]);
  }
  Result<uint32_t> U32() {
    if (d_.size() - pos_ < 4) return Err("truncated Java serialization");
    uint32_t v = BE32(d_.data() + pos_);
    pos_ += 4;
    return v;
  }
  Result<std::string> ClassDesc() {
    TOS_ASSIGN_OR_RETURN(unsigned char tc, U8());
    if (tc == kTcReference) {
      TOS_ASSIGN_OR_RETURN(uint32_t h, U32());
      if (h < kBaseHandle || h - kBaseHandle >= handles_.size() ||
          handles_[h - kBaseHandle].empty()) {
        return Err("reference to unknown class handle " + Hex(h));
      }
      return handles_[h - kBaseHandle];
    }
    if (tc != kTcClassDesc) return Err("expected a class descriptor, found tag " + Hex(tc));
    if (d_.size() - pos_ < 2) return Err("truncated class name");
    size_t len =
        (static_cast<unsigned char>(d_[pos_]) << 8) | static_cast<unsigned char>(d_[pos_ + 1]);
    pos_ += 2;
    if (d_.size() - pos_ < len + 8 + 1 + 2) return Err("truncated class descriptor");
    std::string name(d_.substr(pos_, len));
    pos_ += len + 8 + 1;  // name, serialVersionUID, flags
    size_t fields =
        (static_cast<unsigned char>(d_[pos_]) << 8) | static_cast<unsigned char>(d_[pos_ + 1]);
    pos_ += 2;
    if (fields != 0) return Err("class " + name + " has fields; only byte arrays are expected");
    handles_.push_back(name);
    TOS_ASSIGN_OR_RETURN(unsigned char end, U8());
    if (end != kTcEndBlockData) return Err("class " + name + " has annotations");
    TOS_ASSIGN_OR_RETURN(unsigned char super, U8());
    if (super != kTcNull) return Err("class " + name + " has a superclass descriptor");
    return name;
  }

  std::string_view d_;
  size_t pos_ = 0;
  std::vector<std::string> handles_;  // class name for class descriptors, "" for objects
};

std::string SerializeByteArrays(const std::vector<std::string>& arrays) {
  std::string out("\xac\xed\x00\x05\x75\x72\x00\x03[[B", 11);
  out.append(kByteArrayArraySuid, 8);
  out += std::string("\x02\x00\x00\x78\x70", 5);
  PutBE32(&out, static_cast<uint32_t>(arrays.size()));
  for (size_t k = 0; k < arrays.size(); ++k) {
    if (k == 0) {
      out += std::string("\x75\x72\x00\x02[B", 6);
      out.append(kByteArraySuid, 8);
      out += std::string("\x02\x00\x00\x78\x70", 5);
    } else {
      out += std::string("\x75\x71\x00\x7e\x00\x02", 6);  // the "[B" descriptor, handle 2
    }
    PutBE32(&out, static_cast<uint32_t>(arrays[k].size()));
    out += arrays[k];
  }
  return out;
}

}  // namespace

struct PySparkPickleReader::Impl {
  std::unique_ptr<BufferedReader> in;
  std::string path;
  std::string sync;
  std::deque<PickleRef> pending;

  Status Err(uint64_t at, const std::string& what) const {
    return DataLoss(path + ": byte " + std::to_string(at) + ": " + what);
  }

  Result<std::string> Bytes(size_t n, const char* what) {
    TOS_ASSIGN_OR_RETURN(size_t got, in->Fill(n));
    if (got < n) return Err(in->offset(), std::string("truncated ") + what);
    std::string s(in->data(), n);
    in->Consume(n);
    return s;
  }

  Result<int64_t> VInt() {  // Hadoop WritableUtils.readVLong
    TOS_ASSIGN_OR_RETURN(std::string b, Bytes(1, "SequenceFile header"));
    int8_t first = static_cast<int8_t>(b[0]);
    if (first >= -112) return first;
    int len = first < -120 ? -119 - first : -111 - first;
    TOS_ASSIGN_OR_RETURN(std::string rest,
                         Bytes(static_cast<size_t>(len - 1), "SequenceFile header"));
    int64_t v = 0;
    for (char c : rest) v = (v << 8) | static_cast<unsigned char>(c);
    return first < -120 || (first >= -112 && first < 0) ? ~v : v;
  }

  Result<std::string> Text(const char* what) {
    uint64_t at = in->offset();
    TOS_ASSIGN_OR_RETURN(int64_t n, VInt());
    if (n < 0 || n > (1 << 20))
      return Err(at, std::string("bad length ") + std::to_string(n) + " of " + what);
    return Bytes(static_cast<size_t>(n), what);
  }

  Status Header() {
    TOS_ASSIGN_OR_RETURN(size_t got, in->Fill(4));
    if (got < 4 || std::string_view(in->data(), 3) != "SEQ") {
      return Err(0,
                 "not a Hadoop SequenceFile (no SEQ magic); PySpark pickle files are what "
                 "saveAsPickleFile writes");
    }
    int version = static_cast<unsigned char>(in->data()[3]);
    if (version != 6)
      return Err(3,
                 "SequenceFile version " + std::to_string(version) + " (version 6 is supported)");
    in->Consume(4);
    TOS_ASSIGN_OR_RETURN(std::string key, Text("key class"));
    TOS_ASSIGN_OR_RETURN(std::string value, Text("value class"));
    if (key != kNullWritable || value != kBytesWritable) {
      return Err(4, "SequenceFile of " + key + " -> " + value + "; PySpark pickle files hold " +
                        kNullWritable + " -> " + kBytesWritable);
    }
    uint64_t flags_at = in->offset();
    TOS_ASSIGN_OR_RETURN(std::string flags, Bytes(2, "SequenceFile header"));
    if (flags[0] || flags[1]) {
      auto codec = Text("codec class");
      std::string with = codec.ok() && !codec->empty() ? " with " + *codec : "";
      return Err(flags_at, std::string(flags[1] ? "block-" : "record-") +
                               "compressed SequenceFile" + with +
                               " is not supported; write it uncompressed");
    }
    TOS_ASSIGN_OR_RETURN(std::string count, Bytes(4, "SequenceFile metadata"));
    uint32_t n = BE32(count.data());
    if (n > 1024) return Err(in->offset() - 4, std::to_string(n) + " metadata entries");
    for (uint32_t k = 0; k < 2 * n; ++k) TOS_RETURN_IF_ERROR(Text("metadata").status());
    TOS_ASSIGN_OR_RETURN(sync, Bytes(kSyncSize, "SequenceFile sync marker"));
    return Status::OK();
  }

  // Reads the next SequenceFile record into `pending`; false at end of file.
  Result<bool> NextRecord() {
    for (;;) {
      uint64_t at = in->offset();
      TOS_ASSIGN_OR_RETURN(size_t got, in->Fill(4));
      if (got == 0) return false;
      if (got < 4) return Err(at, "truncated record length");
      int32_t len = static_cast<int32_t>(BE32(in->data()));
      in->Consume(4);
      if (len == -1) {
        TOS_ASSIGN_OR_RETURN(std::string s, Bytes(kSyncSize, "sync marker"));
        if (s != sync) return Err(at + 4, "sync marker does not match the header's (corrupt file)");
        continue;
      }
      if (len < 8 || static_cast<uint32_t>(len) > kMaxRecord)
        return Err(at, "bad record length " + std::to_string(len));
      TOS_ASSIGN_OR_RETURN(size_t have, in->Fill(static_cast<size_t>(len) + 4));
      if (have < static_cast<size_t>(len) + 4)
        return Err(
            at, "record of " + std::to_string(len) + " bytes is truncated (the file ends first)");
      const char* p = in->data();
      uint32_t key_len = BE32(p);
      if (key_len != 0)
        return Err(at + 4,
                   "key of " + std::to_string(key_len) + " bytes; NullWritable keys are empty");
      uint32_t value_len = BE32(p + 4);
      if (value_len + 4 != static_cast<uint32_t>(len)) {
        return Err(at + 8, "BytesWritable of " + std::to_string(value_len) +
                               " bytes in a record of " + std::to_string(len));
      }
      std::string_view value(p + 8, value_len);
      std::vector<std::string_view> pickles;
      Status st = JavaByteArrays(value).Parse(&pickles);
      if (!st.ok()) return Err(at + 12, st.message());
      for (size_t k = 0; k < pickles.size(); ++k) {
        auto batch = ParsePickle(pickles[k]);
        if (!batch.ok())
          return Err(at,
                     "pickle " + std::to_string(k) + " of the record: " + batch.status().message());
        if ((*batch)->kind != PickleValue::kList) {
          return Err(at, "pickle " + std::to_string(k) + " of the record is a " +
                             (*batch)->Describe() + ", expected a list (a PySpark batch)");
        }
        for (auto& e : (*batch)->items) pending.push_back(e);
      }
      in->Consume(static_cast<size_t>(len) + 4);
      if (!pending.empty()) return true;
    }
  }
};

PySparkPickleReader::PySparkPickleReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PySparkPickleReader::~PySparkPickleReader() = default;

Result<std::unique_ptr<PySparkPickleReader>> PySparkPickleReader::Open(const std::string& uri) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(uri));
  TOS_ASSIGN_OR_RETURN(auto file, fs->NewSequentialFile(uri));
  auto impl = std::make_unique<Impl>();
  impl->path = uri;
  impl->in = std::make_unique<BufferedReader>(std::move(file));
  TOS_RETURN_IF_ERROR(impl->Header());
  return std::unique_ptr<PySparkPickleReader>(new PySparkPickleReader(std::move(impl)));
}

Result<bool> PySparkPickleReader::Next(PickleRef* element) {
  if (impl_->pending.empty()) {
    TOS_ASSIGN_OR_RETURN(bool more, impl_->NextRecord());
    if (!more) return false;
  }
  *element = std::move(impl_->pending.front());
  impl_->pending.pop_front();
  return true;
}

struct PySparkPickleWriter::Impl {
  std::unique_ptr<WritableFile> file;
  size_t batch_size = 10;
  std::string sync;
  uint64_t pos = 0, last_sync = 0;
  std::vector<std::string> batch;    // element pickles
  std::vector<std::string> pickles;  // batches of the next record

  Status Append(const std::string& data) {
    pos += data.size();
    return file->Append(data);
  }

  Status FlushBatch() {
    if (batch.empty()) return Status::OK();
    pickles.push_back(PickleBatch(batch));
    batch.clear();
    return pickles.size() >= kPicklesPerRecord ? FlushRecord() : Status::OK();
  }

  Status FlushRecord() {
    if (pickles.empty()) return Status::OK();
    std::string value = SerializeByteArrays(pickles);
    pickles.clear();
    std::string rec;
    if (pos >= last_sync + kSyncInterval) {  // as Hadoop's Writer.checkAndWriteSync
      PutBE32(&rec, 0xffffffffu);
      rec += sync;
      last_sync = pos;
    }
    PutBE32(&rec, static_cast<uint32_t>(value.size() + 4));  // key (0 bytes) + BytesWritable
    PutBE32(&rec, 0);
    PutBE32(&rec, static_cast<uint32_t>(value.size()));
    rec += value;
    return Append(rec);
  }
};

PySparkPickleWriter::PySparkPickleWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PySparkPickleWriter::~PySparkPickleWriter() = default;

Result<std::unique_ptr<PySparkPickleWriter>> PySparkPickleWriter::Create(
    std::unique_ptr<WritableFile> file, size_t batch_size) {
  auto impl = std::make_unique<Impl>();
  impl->file = std::move(file);
  impl->batch_size = batch_size ? batch_size : 10;
  std::random_device rd;
  for (size_t k = 0; k < kSyncSize; ++k) impl->sync.push_back(static_cast<char>(rd()));
  std::string header = "SEQ\x06";
  PutText(&header, kNullWritable);
  PutText(&header, kBytesWritable);
  header += std::string("\0\0", 2);  // not compressed, not block-compressed
  PutBE32(&header, 0);               // no metadata
  header += impl->sync;
  TOS_RETURN_IF_ERROR(impl->Append(header));
  impl->last_sync = impl->pos;
  return std::unique_ptr<PySparkPickleWriter>(new PySparkPickleWriter(std::move(impl)));
}

Status PySparkPickleWriter::Add(std::string element_pickle) {
  impl_->batch.push_back(std::move(element_pickle));
  if (impl_->batch.size() >= impl_->batch_size) return impl_->FlushBatch();
  return Status::OK();
}

Status PySparkPickleWriter::Close() {
  TOS_RETURN_IF_ERROR(impl_->FlushBatch());
  TOS_RETURN_IF_ERROR(impl_->FlushRecord());
  return impl_->file->Close();
}

}  // namespace tos
