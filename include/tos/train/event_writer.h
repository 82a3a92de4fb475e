// TensorBoard event files: <log_dir>/events.out.tfevents.<unix seconds>.<hostname>
//
// A TFRecord file (tos/tfrecord.h: length, masked CRC32C of the length, data, masked CRC32C)
// whose records are serialized tensorflow.Event protos: the first carries
// file_version "brain.Event:2", the following ones a Summary with one simple_value scalar
// (tag, step, wall_time). Format details: docs/training.md, "Event files".
// One thread at a time; records reach the file on Flush() (or Close / destruction).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tos/status.h"

namespace tos {
class TfRecordWriter;
}

namespace tos::train {

class EventWriter {
 public:
  // Creates log_dir if needed and the event file with its file_version record.
  static Result<std::unique_ptr<EventWriter>> Create(const std::string& log_dir);
  ~EventWriter();

  // wall_time < 0: now.
  Status AddScalar(const std::string& tag, float value, int64_t step, double wall_time = -1);
  Status Flush();
  Status Close();
  const std::string& path() const { return path_; }

 private:
  EventWriter(std::string path, std::unique_ptr<TfRecordWriter> records);
  Status WriteRecord(const std::string& data);

  std::string path_;
  std::unique_ptr<TfRecordWriter> records_;  // tos/tfrecord.h framing and CRC32C
};

// Event proto encoders (exposed for tests and other writers).
std::string EncodeFileVersionEvent(double wall_time, const std::string& version);
std::string EncodeScalarEvent(double wall_time, int64_t step, const std::string& tag, float value);

}  // namespace tos::train
