// Partitioned dataset directories in Spark/Hadoop's layout. Spec: docs/formats.md#layout.
//
//   <dir>/part-00000[.gz], part-00001[.gz], ...   rows in global order: part i before part i+1
//   <dir>/_SUCCESS                                 empty, written after every part is in place
//
// Writers create each part under a hidden temporary name (".part-00003.tmp") and rename it when
// it is complete, so readers never see a half-written part. Readers refuse a directory without
// _SUCCESS unless told to read an incomplete dataset.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tos/compression.h"
#include "tos/fs.h"

namespace tos {

inline constexpr char kSuccessMarker[] = "_SUCCESS";

// "part-00000" for index 0 (at least 5 digits), plus `suffix` (".gz").
std::string PartFileName(size_t index, std::string_view suffix = "");

// Accepts "part-00012", Hadoop's "part-r-00012"/"part-m-00012", each with an optional
// extension (".gz", ".tfrecord"), and Spark SQL's "part-00012-<uuid>-c000.snappy.parquet".
// Sets *index and returns true on a match.
bool ParsePartFileName(std::string_view name, size_t* index);

// The part files of `dir` as full URIs in partition order. Refuses (DataLoss) a directory
// without _SUCCESS, a missing part number (part-00002 absent while part-00003 exists) and two
// files with the same part number; with allow_incomplete the first two are accepted.
// NotFound if `dir` does not exist.
Result<std::vector<std::string>> ListPartFiles(const std::string& dir, bool allow_incomplete);

// Creates `<dir>/<name>` through a temporary file: Close() renames it into place; destroying
// it unclosed (or a failed write) deletes the temporary and leaves no part behind.
Result<std::unique_ptr<WritableFile>> CreatePartFile(const std::string& dir,
                                                     const std::string& name,
                                                     Compression c = Compression::kNone,
                                                     int gzip_level = -1);

// Writes the empty _SUCCESS marker: call after every part is closed.
Status WriteSuccessMarker(const std::string& dir);

// True if `dir` holds part files, temporaries or a _SUCCESS marker.
Result<bool> HoldsDataset(const std::string& dir);

// Deletes the part files, temporaries and _SUCCESS of `dir`, then `dir` itself if that left it
// empty. Other files are left alone. OK if `dir` does not exist.
Status RemoveDataset(const std::string& dir);

}  // namespace tos
