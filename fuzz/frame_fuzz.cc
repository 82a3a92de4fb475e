// Frame reading (src/net/frame.cc) on a real socket: frames are read until the stream ends or
// a frame is refused. The first byte picks ReadFrame or ReadRawFrame and the size limit.
#include <chrono>

#include "fuzz_util.h"
#include "net/frame.h"
#include "net_fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  tos::fuzz::FedSocket s;
  if (!s.Feed(data + 1, size - 1)) return 0;
  const bool raw = data[0] & 1;
  const size_t limit = (data[0] & 2) ? tos::net::kDefaultMaxFrameBytes : (data[0] >> 2) * 64;
  const auto deadline = tos::net::After(std::chrono::seconds(5));
  for (int k = 0; k < 100000; ++k) {
    if (raw) {
      auto f = tos::net::ReadRawFrame(s.ours, deadline, limit);
      if (!f.ok()) break;
      if (f->size > limit) __builtin_trap();
      (void)tos::net::FrameTypeName(f->type);
    } else {
      auto f = tos::net::ReadFrame(s.ours, deadline, limit);
      if (!f.ok()) break;
      if (f->payload.size() > limit) __builtin_trap();
      (void)tos::net::FrameTypeName(f->type);
    }
  }
  return 0;
}
