// FileSystem: the one door through which formats touch storage.
//
// Formats and tools name files by URI ("/data/x", "file:///data/x", later "hdfs://nn/x") and
// resolve the FileSystem with GetFileSystem(uri). Every FileSystem method takes the full URI
// it was resolved from, so a format never strips or rewrites schemes itself.
//
// Threading: a FileSystem is shared and its methods may be called from any thread at once.
// A SequentialFile or WritableFile belongs to one thread at a time.
// Errors: every call returns Status/Result; messages name the path. Nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tos/status.h"

namespace tos {

// A file read front to back. Read blocks until at least one byte is available or the file ends.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes into buf; returns how many were read, 0 only at end of file.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // The URI the file was opened with (used in error messages).
  virtual const std::string& path() const = 0;
};

// A file written front to back. Data is durable for readers only after Close() returns OK.
// Destroying an unclosed WritableFile closes it and drops any error: call Close().
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Pushes buffered bytes to the operating system (not necessarily to disk).
  virtual Status Flush() = 0;
  // Flush, then make the bytes durable (fsync on a local disk). The default is Flush: on HDFS
  // a closed file is already on its datanodes.
  virtual Status Sync() { return Flush(); }
  virtual Status Close() = 0;
  virtual const std::string& path() const = 0;
};

struct DirEntry {
  std::string name;  // the entry's name inside the directory, no path
  bool is_dir = false;
};

// What a directory tree holds (HDFS's content summary; `tos_fs du`).
struct ContentSummary {
  uint64_t bytes = 0;
  uint64_t files = 0;
  uint64_t directories = 0;  // counting the root when it is a directory
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& uri) = 0;
  // Creates or truncates the file. Parent directories must exist.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& uri) = 0;
  // Atomically replaces `to` with `from` (both on this file system); on a local disk the
  // directory of `to` is fsync'ed, so the rename survives a crash once this returns.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Entries of a directory, sorted by name, without "." and "..".
  virtual Result<std::vector<DirEntry>> ListDir(const std::string& uri) = 0;
  // Creates the directory and any missing parents; OK if it already exists.
  virtual Status CreateDirs(const std::string& uri) = 0;
  virtual Result<bool> Exists(const std::string& uri) = 0;
  virtual Result<bool> IsDirectory(const std::string& uri) = 0;
  virtual Status DeleteFile(const std::string& uri) = 0;
  // Deletes an empty directory.
  virtual Status DeleteDir(const std::string& uri) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& uri) = 0;
  // Deletes a file, or a directory with everything under it. The default walks ListDir.
  virtual Status DeleteRecursively(const std::string& uri);
  // Sizes and counts of a file or directory tree. The default walks ListDir.
  virtual Result<ContentSummary> GetContentSummary(const std::string& uri);
};

// Resolves the FileSystem serving `uri` by its scheme ("" and "file" are the local one).
// The returned pointer lives until the process exits. NotFound names an unknown scheme.
Result<FileSystem*> GetFileSystem(const std::string& uri);

// Makes `scheme` ("hdfs", "mem") resolve to `fs`, replacing any earlier registration.
void RegisterFileSystem(const std::string& scheme, std::shared_ptr<FileSystem> fs);

// "hdfs://nn/x" -> "hdfs"; "/x" and "x" -> "".
std::string_view UriScheme(std::string_view uri);

// Joins with exactly one '/': JoinPath("a/", "b") == "a/b". An empty side returns the other.
std::string JoinPath(std::string_view a, std::string_view b);

// The last path component: "dir/part-00001" -> "part-00001".
std::string_view Basename(std::string_view uri);

// The file system relative and scheme-less paths resolve against: $TOS_DEFAULT_FS, else
// fs.defaultFS of $HADOOP_CONF_DIR/core-site.xml, else "file:///" (the local one).
Result<std::string> DefaultFs();

// TensorFlowOnSpark's rules for user-given paths (ctx.absolute_path): a URI with a scheme is
// kept; on an HDFS default file system "/abs" becomes defaultFS + "/abs" and "rel" becomes
// defaultFS + "/user/<user>/rel" (the user of HADOOP_USER_NAME, else the login name); on the
// local one the path is kept as given.
Result<std::string> ResolvePath(const std::string& path);

// Convenience wrappers that resolve the file system from the URI.
Result<std::string> ReadFileToString(const std::string& uri);
Status WriteStringToFile(const std::string& uri, std::string_view data);
// Replaces `uri` with `data` so that a reader sees the old file or the whole new one, never a
// part: written to a temporary name beside it, made durable (Sync), its length checked, then
// renamed over `uri`. The temporary file is removed on failure. Parent directories must exist.
Status WriteFileAtomically(const std::string& uri, std::string_view data);

}  // namespace tos
