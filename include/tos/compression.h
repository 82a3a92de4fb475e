// Compression of whole files (TFRecord files, IDX files). GZIP is RFC 1952, as written by
// gzip(1), zlib's gzopen and TensorFlow's TFRecordOptions("GZIP").
#pragma once

#include <memory>
#include <string>

#include "tos/fs.h"

namespace tos {

enum class Compression { kNone, kGzip };

// Opens `uri` for reading through its FileSystem; with kGzip the bytes returned are the
// decompressed stream (concatenated gzip members are read as one stream). Corrupt or truncated
// gzip data is DataLoss naming the file and the compressed byte offset.
Result<std::unique_ptr<SequentialFile>> OpenInputFile(const std::string& uri,
                                                      Compression c = Compression::kNone);

// Creates or truncates `uri`; with kGzip everything appended is compressed at `gzip_level`
// (zlib's 0..9, -1 = zlib's default) and Close() writes the gzip trailer.
Result<std::unique_ptr<WritableFile>> OpenOutputFile(const std::string& uri,
                                                     Compression c = Compression::kNone,
                                                     int gzip_level = -1);

// Decorators over any file system's files.
std::unique_ptr<SequentialFile> NewGzipInputFile(std::unique_ptr<SequentialFile> base);
std::unique_ptr<WritableFile> NewGzipWritableFile(std::unique_ptr<WritableFile> base,
                                                  int level = -1);

// True if `head` starts with the gzip magic bytes 1f 8b.
bool LooksGzipped(std::string_view head);

}  // namespace tos
