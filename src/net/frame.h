// Length-prefixed binary frames, the unit of every TorchOnSpark wire protocol
// (docs/protocol.md): u32 little-endian length of what follows, u8 type, payload.
// Readers enforce a size limit before allocating, so a garbage length cannot exhaust memory,
// and a payload's buffer grows as its bytes arrive (see kFrameProbeBytes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/socket.h"

namespace tos::net {

enum class FrameType : uint8_t {
  // Handshake (net/auth.h)
  kHello = 1,
  kAuth = 2,
  kAuthOk = 3,
  // Reservation and control channel (reservation/)
  kRegister = 10,
  kClusterSpec = 11,
  kHeartbeat = 12,
  kNodeError = 13,
  kNodeDone = 14,
  kStop = 15,
  kJobError = 16,
  kKvSet = 17,
  kKvGet = 18,
  kKvValue = 19,
  kKvAdd = 20,
  // Feed channel (feed/)
  kFeedOpen = 30,
  kFeedData = 31,
  kPartitionEnd = 32,
  kFeedEnd = 33,
  kFeedTerminate = 34,
  kResults = 35,
  kResultsPartitionEnd = 36,
  kFeedAck = 37,
  kFeedError = 38,
};

const char* FrameTypeName(FrameType t);

constexpr size_t kFrameHeaderBytes = 5;
constexpr size_t kDefaultMaxFrameBytes = 64u << 20;
// A payload's buffer starts at kFrameProbeBytes and doubles each time it fills, so that memory
// follows the bytes that really arrived, not the declared length; after kFrameTrustBytes it
// takes the declared length at once.
constexpr size_t kFrameProbeBytes = 4096;
constexpr size_t kFrameTrustBytes = 16384;

struct Frame {
  FrameType type{};
  std::string payload;
};

// Writes header + payload. `payload` may be empty.
Status WriteFrame(const Socket& s, FrameType type, std::string_view payload, Deadline deadline);

// For large frames built in place: `buffer` starts with kFrameHeaderBytes of room, which this
// fills in before sending the whole buffer with one write.
Status WriteFrameInPlace(const Socket& s, FrameType type, std::string* buffer, Deadline deadline);

// Reads one frame. DataLoss if the declared length exceeds max_bytes or is zero;
// Unavailable on a closed connection; Timeout at the deadline.
Result<Frame> ReadFrame(const Socket& s, Deadline deadline,
                        size_t max_bytes = kDefaultMaxFrameBytes);

// Reads one frame whose payload goes into a fresh uninitialised buffer (no zero-fill pass
// over large payloads). Same errors as ReadFrame.
struct RawFrame {
  FrameType type{};
  std::unique_ptr<char[]> payload;
  size_t size = 0;
};
Result<RawFrame> ReadRawFrame(const Socket& s, Deadline deadline,
                              size_t max_bytes = kDefaultMaxFrameBytes);

// Little-endian helpers for binary payloads.
void PutU32(std::string* out, uint32_t v);
void PutU64(std::string* out, uint64_t v);
uint32_t GetU32(const char* p);
uint64_t GetU64(const char* p);

}  // namespace tos::net
