// An in-memory FileSystem for tests: register it under a scheme ("mem") and every format that
// goes through GetFileSystem() runs against it unchanged. Thread-safe. Paths are the full URIs;
// the root of a scheme ("mem://") always exists.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "tos/fs.h"

namespace tos {

class MemoryFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& uri) override;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& uri) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Result<std::vector<DirEntry>> ListDir(const std::string& uri) override;
  Status CreateDirs(const std::string& uri) override;
  Result<bool> Exists(const std::string& uri) override;
  Result<bool> IsDirectory(const std::string& uri) override;
  Status DeleteFile(const std::string& uri) override;
  Status DeleteDir(const std::string& uri) override;
  Result<uint64_t> GetFileSize(const std::string& uri) override;

  // Test hooks: the bytes of a file (empty if missing) and replacing them in place.
  std::string Contents(const std::string& uri);
  void SetContents(const std::string& uri, std::string data);

 private:
  struct Node {
    std::mutex mu;
    std::string data;
  };
  static std::string Normalize(const std::string& uri);
  static std::string Parent(const std::string& path);
  bool DirExistsLocked(const std::string& path) const;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Node>> files_;
  std::set<std::string> dirs_;
};

}  // namespace tos
