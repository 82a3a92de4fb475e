// Text parsers of the networking layer (src/net/socket.cc): "host:port" and port ranges
// ("9997", "9997-9999") from the environment and the command line.
#include <string>

#include "fuzz_util.h"
#include "mnist_dataset.h"
#include "net/socket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto hp = tos::net::ParseHostPort(text);
  if (hp.ok() && (hp->port < 0 || hp->port > 65535)) __builtin_trap();
  auto range = tos::net::ParsePortRange(text);
  if (range.ok() && range->first > range->second) __builtin_trap();
  (void)tos::ParseDataFormat(text);
  return 0;
}
