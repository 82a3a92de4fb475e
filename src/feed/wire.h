// FEED_DATA and RESULTS payload encodings (docs/protocol.md, "Feed channel").
//
//   FEED_DATA: u32 count | u32 fixed_size | records
//     fixed_size > 0: count records of fixed_size bytes each, back to back
//     fixed_size = 0: each record is u32 length | bytes
//   RESULTS:   u32 count | count x (u32 length | bytes)
//   FEED_OPEN: JSON {"feed": name, "mode": "train"|"inference", "sender": text,
//                    "encoding": "bytes"|"text"|"tuple"|"arrow", "shared": bool,
//                    "stream": text (optional)}
//              (docs/protocol.md; "shared" in docs/spark.md)
//   PARTITION_END: u64 partition index
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos::feed {

constexpr size_t kDataHeaderBytes = 8;

// Decodes a FEED_DATA payload into views into `payload`. DataLoss with what is wrong.
Status DecodeRecords(std::string_view payload, std::vector<std::string_view>* records);

// Appends one length-prefixed record (variable layout) to a frame under construction.
void AppendRecord(std::string* frame, std::string_view record);

// Encodes/decodes RESULTS payloads.
std::string EncodeResults(const std::vector<std::string>& results);
Status DecodeResults(std::string_view payload, std::vector<std::string>* results);

enum class FeedMode { kTrain, kInference };
struct FeedOpen {
  std::string feed;
  FeedMode mode = FeedMode::kTrain;
  std::string sender;
  // How the sender encoded its records: "bytes" (opaque), "text" (UTF-8 lines without
  // newline), "tuple" (docs/protocol.md, "Tuple records") or "arrow" (one Arrow IPC stream per
  // record, tos/columns.h). The consumer sees it per batch.
  std::string encoding = "bytes";
  // One of several senders of this feed (the Spark bridge: one per partition). Its FEED_END
  // ends only its connection; the feed ends with a FEED_END from a non-shared sender. A
  // shared connection that breaks is dropped without failing the feed (Spark retries the
  // task), and the results still due to it are discarded.
  bool shared = false;
  // Training, exactly once (docs/spark.md, "Exactly once"): the data this connection sends,
  // e.g. "<train call>/<Spark partition>". Every attempt of a Spark task resends its partition
  // from the start; the node takes only the records it has not taken from that stream yet.
  std::string stream = {};
};
std::string EncodeFeedOpen(const FeedOpen& open);
Result<FeedOpen> DecodeFeedOpen(const std::string& payload);

}  // namespace tos::feed
