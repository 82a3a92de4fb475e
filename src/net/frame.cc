#include "net/frame.h"

#include <algorithm>
#include <cstring>

namespace tos::net {

const char* FrameTypeName(FrameType t) {
  switch (t) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kAuth:
      return "AUTH";
    case FrameType::kAuthOk:
      return "AUTH_OK";
    case FrameType::kRegister:
      return "REGISTER";
    case FrameType::kClusterSpec:
      return "CLUSTER_SPEC";
    case FrameType::kHeartbeat:
      return "HEARTBEAT";
    case FrameType::kNodeError:
      return "NODE_ERROR";
    case FrameType::kNodeDone:
      return "NODE_DONE";
    case FrameType::kStop:
      return "STOP";
    case FrameType::kJobError:
      return "JOB_ERROR";
    case FrameType::kKvSet:
      return "KV_SET";
    case FrameType::kKvGet:
      return "KV_GET";
    case FrameType::kKvValue:
      return "KV_VALUE";
    case FrameType::kKvAdd:
      return "KV_ADD";
    case FrameType::kFeedOpen:
      return "FEED_OPEN";
    case FrameType::kFeedData:
      return "FEED_DATA";
    case FrameType::kPartitionEnd:
      return "PARTITION_END";
    case FrameType::kFeedEnd:
      return "FEED_END";
    case FrameType::kFeedTerminate:
      return "FEED_TERMINATE";
    case FrameType::kResults:
      return "RESULTS";
    case FrameType::kResultsPartitionEnd:
      return "RESULTS_PARTITION_END";
    case FrameType::kFeedAck:
      return "FEED_ACK";
    case FrameType::kFeedError:
      return "FEED_ERROR";
  }
  return "UNKNOWN";
}

void PutU32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out->append(b, 4);
}

void PutU64(std::string* out, uint64_t v) {
  PutU32(out, static_cast<uint32_t>(v));
  PutU32(out, static_cast<uint32_t>(v >> 32));
}

uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return u[0] | (u[1] << 8) | (u[2] << 16) | (static_cast<uint32_t>(u[3]) << 24);
}

uint64_t GetU64(const char* p) { return GetU32(p) | (static_cast<uint64_t>(GetU32(p + 4)) << 32); }

Status WriteFrame(const Socket& s, FrameType type, std::string_view payload, Deadline deadline) {
  std::string buf;
  buf.reserve(kFrameHeaderBytes + payload.size());
  PutU32(&buf, static_cast<uint32_t>(payload.size() + 1));
  buf.push_back(static_cast<char>(type));
  buf.append(payload);
  return WriteAll(s, buf.data(), buf.size(), deadline);
}

Status WriteFrameInPlace(const Socket& s, FrameType type, std::string* buffer, Deadline deadline) {
  if (buffer->size() < kFrameHeaderBytes) return Internal("frame buffer without header room");
  uint32_t len = static_cast<uint32_t>(buffer->size() - 4);
  char* p = buffer->data();
  p[0] = static_cast<char>(len);
  p[1] = static_cast<char>(len >> 8);
  p[2] = static_cast<char>(len >> 16);
  p[3] = static_cast<char>(len >> 24);
  p[4] = static_cast<char>(type);
  return WriteAll(s, buffer->data(), buffer->size(), deadline);
}

Result<Frame> ReadFrame(const Socket& s, Deadline deadline, size_t max_bytes) {
  TOS_ASSIGN_OR_RETURN(RawFrame raw, ReadRawFrame(s, deadline, max_bytes));
  Frame f;
  f.type = raw.type;
  f.payload.assign(raw.payload.get(), raw.size);
  return f;
}

Result<RawFrame> ReadRawFrame(const Socket& s, Deadline deadline, size_t max_bytes) {
  char header[kFrameHeaderBytes];
  TOS_RETURN_IF_ERROR(ReadFull(s, header, sizeof(header), deadline));
  uint32_t len = GetU32(header);
  if (len == 0 || len - 1 > max_bytes) {
    return DataLoss("bad frame from " + s.PeerAddress() + ": declared length " +
                    std::to_string(len) + " (limit " + std::to_string(max_bytes) + " bytes)");
  }
  RawFrame f;
  f.type = static_cast<FrameType>(static_cast<uint8_t>(header[4]));
  f.size = len - 1;
  // The declared length is only the peer's claim. The buffer starts at kFrameProbeBytes (or the
  // payload's size if smaller) and doubles each time it fills, so it stays within twice what
  // has arrived; once kFrameTrustBytes have arrived it takes the declared size at once.
  size_t cap = std::min(f.size, kFrameProbeBytes);
  f.payload.reset(new char[cap > 0 ? cap : 1]);
  size_t got = 0;
  while (got < f.size) {
    if (got == cap) {
      const size_t grown = got >= kFrameTrustBytes ? f.size : std::min(f.size, 2 * cap);
      std::unique_ptr<char[]> bigger(new char[grown]);
      std::memcpy(bigger.get(), f.payload.get(), got);
      f.payload = std::move(bigger);
      cap = grown;
    }
    TOS_RETURN_IF_ERROR(ReadFullPart(s, f.payload.get() + got, cap - got, got, f.size, deadline));
    got = cap;
  }
  return f;
}

}  // namespace tos::net
