#include "tos/train/event_writer.h"

#include <unistd.h>

#include <chrono>
#include <cstring>

#include "tos/fs.h"
#include "tos/tfrecord.h"

namespace tos::train {
namespace {

void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Fixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void Fixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void LengthDelimited(std::string* out, int field, const std::string& bytes) {
  Varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  Varint(out, bytes.size());
  out->append(bytes);
}
void WallTimeAndStep(std::string* out, double wall_time, int64_t step) {
  uint64_t bits;
  std::memcpy(&bits, &wall_time, 8);
  out->push_back(static_cast<char>((1 << 3) | 1));  // Event.wall_time, fixed64
  Fixed64(out, bits);
  if (step != 0) {
    out->push_back(static_cast<char>(2 << 3));  // Event.step, varint
    Varint(out, static_cast<uint64_t>(step));
  }
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

EventWriter::EventWriter(std::string path, std::unique_ptr<TfRecordWriter> records)
    : path_(std::move(path)), records_(std::move(records)) {}

std::string EncodeFileVersionEvent(double wall_time, const std::string& version) {
  std::string e;
  WallTimeAndStep(&e, wall_time, 0);
  LengthDelimited(&e, 3, version);  // Event.file_version
  return e;
}

std::string EncodeScalarEvent(double wall_time, int64_t step, const std::string& tag, float value) {
  std::string v;
  LengthDelimited(&v, 1, tag);  // Summary.Value.tag
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  v.push_back(static_cast<char>((2 << 3) | 5));  // Summary.Value.simple_value, fixed32
  Fixed32(&v, bits);
  std::string summary;
  LengthDelimited(&summary, 1, v);  // Summary.value
  std::string e;
  WallTimeAndStep(&e, wall_time, step);
  LengthDelimited(&e, 5, summary);  // Event.summary
  return e;
}

Result<std::unique_ptr<EventWriter>> EventWriter::Create(const std::string& log_dir) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(log_dir));
  TOS_RETURN_IF_ERROR(fs->CreateDirs(log_dir).WithContext("creating the log dir"));
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const double now = Now();
  std::string path = JoinPath(
      log_dir, "events.out.tfevents." + std::to_string(static_cast<int64_t>(now)) + "." + host);
  TOS_ASSIGN_OR_RETURN(bool taken, fs->Exists(path));
  if (taken) path += "." + std::to_string(getpid());
  TOS_ASSIGN_OR_RETURN(auto records, TfRecordWriter::Create(path));
  std::unique_ptr<EventWriter> w(new EventWriter(path, std::move(records)));
  TOS_RETURN_IF_ERROR(w->WriteRecord(EncodeFileVersionEvent(now, "brain.Event:2")));
  TOS_RETURN_IF_ERROR(w->Flush());
  return w;
}

// Callers that need the events on disk call Close() and check it; at destruction the events
// are best effort (TensorBoard files are not training results).
EventWriter::~EventWriter() { (void)Close(); }

Status EventWriter::WriteRecord(const std::string& data) {
  if (records_ == nullptr) return InvalidArgument("event file " + path_ + " is closed");
  return records_->Write(data).WithContext("event file " + path_);
}

Status EventWriter::AddScalar(const std::string& tag, float value, int64_t step, double wall_time) {
  return WriteRecord(EncodeScalarEvent(wall_time < 0 ? Now() : wall_time, step, tag, value));
}

Status EventWriter::Flush() {
  if (records_ == nullptr) return Status::OK();
  return records_->Flush().WithContext("event file " + path_);
}

Status EventWriter::Close() {
  if (records_ == nullptr) return Status::OK();
  Status s = records_->Close().WithContext("event file " + path_);
  records_.reset();
  return s;
}

}  // namespace tos::train
