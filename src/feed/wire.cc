#include "feed/wire.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "net/frame.h"

namespace tos::feed {

using net::GetU32;

Status DecodeRecords(std::string_view payload, std::vector<std::string_view>* records) {
  if (payload.size() < kDataHeaderBytes) return DataLoss("FEED_DATA shorter than its header");
  uint32_t count = GetU32(payload.data());
  uint32_t fixed = GetU32(payload.data() + 4);
  const char* p = payload.data() + kDataHeaderBytes;
  size_t left = payload.size() - kDataHeaderBytes;
  // Every count is checked against the bytes present before anything is allocated: the count
  // comes from the peer, and reserving for a garbage count would exhaust memory.
  if (fixed > 0) {
    if (static_cast<uint64_t>(count) * fixed != left) {
      return DataLoss("FEED_DATA declares " + std::to_string(count) + " records of " +
                      std::to_string(fixed) + " bytes but carries " + std::to_string(left) +
                      " bytes");
    }
    records->reserve(records->size() + count);
    for (uint32_t i = 0; i < count; ++i)
      records->emplace_back(p + static_cast<size_t>(i) * fixed, fixed);
    return Status::OK();
  }
  if (count > left / 4) {
    return DataLoss("FEED_DATA declares " + std::to_string(count) + " records but carries only " +
                    std::to_string(left) + " bytes (each record needs a 4-byte length)");
  }
  records->reserve(records->size() + count);
  for (uint32_t i = 0; i < count; ++i) {
    if (left < 4)
      return DataLoss("FEED_DATA record " + std::to_string(i) + " of " + std::to_string(count) +
                      ": truncated length");
    uint32_t len = GetU32(p);
    p += 4;
    left -= 4;
    if (len > left) {
      return DataLoss("FEED_DATA record " + std::to_string(i) + " of " + std::to_string(count) +
                      ": length " + std::to_string(len) + " exceeds the " + std::to_string(left) +
                      " bytes left in the frame");
    }
    records->emplace_back(p, len);
    p += len;
    left -= len;
  }
  if (left != 0) return DataLoss("FEED_DATA has " + std::to_string(left) + " trailing bytes");
  return Status::OK();
}

void AppendRecord(std::string* frame, std::string_view record) {
  net::PutU32(frame, static_cast<uint32_t>(record.size()));
  frame->append(record.data(), record.size());
}

std::string EncodeResults(const std::vector<std::string>& results) {
  size_t total = 4;
  for (auto& r : results) total += 4 + r.size();
  std::string out;
  out.reserve(total);
  net::PutU32(&out, static_cast<uint32_t>(results.size()));
  for (auto& r : results) AppendRecord(&out, r);
  return out;
}

Status DecodeResults(std::string_view payload, std::vector<std::string>* results) {
  if (payload.size() < 4) return DataLoss("RESULTS shorter than its header");
  uint32_t count = GetU32(payload.data());
  const char* p = payload.data() + 4;
  size_t left = payload.size() - 4;
  if (count > left / 4) {
    return DataLoss("RESULTS declares " + std::to_string(count) + " entries but carries only " +
                    std::to_string(left) + " bytes");
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (left < 4) return DataLoss("RESULTS entry " + std::to_string(i) + ": truncated length");
    uint32_t len = GetU32(p);
    p += 4;
    left -= 4;
    if (len > left)
      return DataLoss("RESULTS entry " + std::to_string(i) + ": length exceeds frame");
    results->emplace_back(p, len);
    p += len;
    left -= len;
  }
  if (left != 0) return DataLoss("RESULTS has trailing bytes");
  return Status::OK();
}

std::string EncodeFeedOpen(const FeedOpen& o) {
  nlohmann::json j{{"feed", o.feed},
                   {"mode", o.mode == FeedMode::kInference ? "inference" : "train"},
                   {"sender", o.sender},
                   {"encoding", o.encoding},
                   {"shared", o.shared}};
  if (!o.stream.empty()) j["stream"] = o.stream;
  return j.dump();
}

Result<FeedOpen> DecodeFeedOpen(const std::string& payload) {
  try {
    auto j = nlohmann::json::parse(payload);
    FeedOpen o;
    o.feed = j.at("feed").get<std::string>();
    std::string mode = j.at("mode").get<std::string>();
    if (mode == "train") {
      o.mode = FeedMode::kTrain;
    } else if (mode == "inference") {
      o.mode = FeedMode::kInference;
    } else {
      return InvalidArgument("FEED_OPEN with unknown mode '" + mode + "'");
    }
    if (j.contains("sender")) o.sender = j["sender"].get<std::string>();
    if (j.contains("encoding")) o.encoding = j["encoding"].get<std::string>();
    if (j.contains("shared")) o.shared = j["shared"].get<bool>();
    if (j.contains("stream")) o.stream = j["stream"].get<std::string>();
    if (o.stream.size() > 256)
      return InvalidArgument("FEED_OPEN with a stream name over 256 bytes");
    if (o.encoding != "bytes" && o.encoding != "text" && o.encoding != "tuple" &&
        o.encoding != "arrow") {
      return InvalidArgument("FEED_OPEN with unknown encoding '" + o.encoding + "'");
    }
    if (o.feed.empty() || o.feed.size() > 128)
      return InvalidArgument("FEED_OPEN with a bad feed name");
    return o;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("malformed FEED_OPEN: ") + e.what());
  }
}

}  // namespace tos::feed
