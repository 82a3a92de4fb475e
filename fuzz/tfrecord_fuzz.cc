// TFRecord reader (src/formats/tfrecord.cc): framing, length and data CRCs, truncation.
// The input is the file; both Next and NextView read it to the end or the first error.
#include <string>

#include "fuzz_util.h"
#include "tos/tfrecord.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string uri = tos::fuzz::PutFile("tfrecord/file", in);
  {
    auto r = tos::TfRecordReader::Open(uri);
    if (!r.ok()) return 0;
    std::string rec;
    for (;;) {
      auto more = (*r)->Next(&rec);
      if (!more.ok() || !*more) break;
    }
  }
  {
    auto r = tos::TfRecordReader::Open(uri);
    if (!r.ok()) return 0;
    std::string_view rec;
    for (;;) {
      auto more = (*r)->NextView(&rec);
      if (!more.ok() || !*more) break;
      tos::fuzz::Consume(static_cast<double>(rec.size()));
    }
  }
  return 0;
}
