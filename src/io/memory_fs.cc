#include "io/memory_fs.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace tos {

std::string MemoryFileSystem::Normalize(const std::string& uri) {
  std::string p = uri;
  while (p.size() > 1 && p.back() == '/' && p.compare(p.size() - 3, 3, "://") != 0) p.pop_back();
  return p;
}

std::string MemoryFileSystem::Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  // Keep "mem://" as the root.
  if (slash >= 2 && path.compare(slash - 2, 3, "://") == 0) return path.substr(0, slash + 1);
  return path.substr(0, slash);
}

bool MemoryFileSystem::DirExistsLocked(const std::string& path) const {
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, "://") == 0) return true;
  return path.empty() || dirs_.count(path) > 0;
}

namespace {

class MemorySequentialFile final : public SequentialFile {
 public:
  MemorySequentialFile(std::string uri, std::string data)
      : uri_(std::move(uri)), data_(std::move(data)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }
  const std::string& path() const override { return uri_; }

 private:
  std::string uri_;
  std::string data_;
  size_t pos_ = 0;
};

class MemoryWritableFile final : public WritableFile {
 public:
  using Sink = std::function<void(std::string_view)>;
  MemoryWritableFile(std::string uri, Sink sink) : uri_(std::move(uri)), sink_(std::move(sink)) {}
  Status Append(std::string_view data) override {
    if (closed_) return Internal(uri_ + ": append after close");
    sink_(data);
    return Status::OK();
  }
  Status Flush() override { return Status::OK(); }
  Status Close() override {
    closed_ = true;
    return Status::OK();
  }
  const std::string& path() const override { return uri_; }

 private:
  std::string uri_;
  Sink sink_;
  bool closed_ = false;
};

}  // namespace

Result<std::unique_ptr<SequentialFile>> MemoryFileSystem::NewSequentialFile(
    const std::string& uri) {
  std::shared_ptr<Node> node;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(Normalize(uri));
    if (it == files_.end()) return NotFound(uri + ": No such file or directory");
    node = it->second;
  }
  std::lock_guard<std::mutex> lock(node->mu);
  return std::unique_ptr<SequentialFile>(new MemorySequentialFile(uri, node->data));
}

Result<std::unique_ptr<WritableFile>> MemoryFileSystem::NewWritableFile(const std::string& uri) {
  std::string path = Normalize(uri);
  auto node = std::make_shared<Node>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!DirExistsLocked(Parent(path))) return NotFound(uri + ": parent directory missing");
    if (dirs_.count(path)) return InvalidArgument(uri + ": is a directory");
    files_[path] = node;
  }
  return std::unique_ptr<WritableFile>(new MemoryWritableFile(uri, [node](std::string_view d) {
    std::lock_guard<std::mutex> lock(node->mu);
    node->data.append(d);
  }));
}

Status MemoryFileSystem::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(Normalize(from));
  if (it == files_.end()) return NotFound("rename " + from + ": No such file");
  if (!DirExistsLocked(Parent(Normalize(to)))) return NotFound("rename to " + to + ": no parent");
  auto node = it->second;
  files_.erase(it);
  files_[Normalize(to)] = node;
  return Status::OK();
}

namespace {

// Calls f(path) for each key of the sorted container `c` whose parent is `dir` (normalized):
// the keys that start with dir + "/" (dir itself for a root "scheme://") and have no further
// "/". They lie in one contiguous run from lower_bound(prefix), so nothing else is looked at
// beyond the descendants of `dir`.
template <typename Container, typename F>
void ForEachChild(const Container& c, const std::string& dir, F f) {
  const bool root = dir.size() >= 3 && dir.compare(dir.size() - 3, 3, "://") == 0;
  const std::string prefix = root ? dir : dir + "/";
  for (auto it = c.lower_bound(prefix); it != c.end(); ++it) {
    const std::string& path = [&]() -> const std::string& {
      if constexpr (std::is_same_v<typename Container::key_type, typename Container::value_type>) {
        return *it;
      } else {
        return it->first;
      }
    }();
    if (path.compare(0, prefix.size(), prefix) != 0) break;
    if (path.find('/', prefix.size()) != std::string::npos) continue;  // deeper down
    if (path.size() == prefix.size() && !root) continue;
    f(path);
  }
}

}  // namespace

Result<std::vector<DirEntry>> MemoryFileSystem::ListDir(const std::string& uri) {
  std::string dir = Normalize(uri);
  std::lock_guard<std::mutex> lock(mu_);
  if (!DirExistsLocked(dir)) return NotFound(uri + ": No such directory");
  std::vector<DirEntry> out;
  ForEachChild(files_, dir, [&](const std::string& path) {
    out.push_back({std::string(Basename(path)), false});
  });
  ForEachChild(dirs_, dir, [&](const std::string& path) {
    out.push_back({std::string(Basename(path)), true});
  });
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

Status MemoryFileSystem::CreateDirs(const std::string& uri) {
  std::string path = Normalize(uri);
  std::lock_guard<std::mutex> lock(mu_);
  while (!DirExistsLocked(path)) {
    if (files_.count(path)) return AlreadyExists(path + ": exists and is not a directory");
    dirs_.insert(path);
    path = Parent(path);
  }
  return Status::OK();
}

Result<bool> MemoryFileSystem::Exists(const std::string& uri) {
  std::string path = Normalize(uri);
  std::lock_guard<std::mutex> lock(mu_);
  return files_.count(path) > 0 || DirExistsLocked(path);
}

Result<bool> MemoryFileSystem::IsDirectory(const std::string& uri) {
  std::lock_guard<std::mutex> lock(mu_);
  return DirExistsLocked(Normalize(uri));
}

Status MemoryFileSystem::DeleteFile(const std::string& uri) {
  std::lock_guard<std::mutex> lock(mu_);
  if (files_.erase(Normalize(uri)) == 0) return NotFound(uri + ": delete: No such file");
  return Status::OK();
}

Status MemoryFileSystem::DeleteDir(const std::string& uri) {
  std::string dir = Normalize(uri);
  std::lock_guard<std::mutex> lock(mu_);
  if (!dirs_.count(dir)) return NotFound(uri + ": rmdir: No such directory");
  for (const auto& [path, node] : files_) {
    if (Parent(path) == dir) return InvalidArgument(uri + ": rmdir: Directory not empty");
  }
  for (const auto& path : dirs_) {
    if (Parent(path) == dir) return InvalidArgument(uri + ": rmdir: Directory not empty");
  }
  dirs_.erase(dir);
  return Status::OK();
}

Result<uint64_t> MemoryFileSystem::GetFileSize(const std::string& uri) {
  std::shared_ptr<Node> node;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(Normalize(uri));
    if (it == files_.end()) return NotFound(uri + ": No such file");
    node = it->second;
  }
  std::lock_guard<std::mutex> lock(node->mu);
  return static_cast<uint64_t>(node->data.size());
}

std::string MemoryFileSystem::Contents(const std::string& uri) {
  std::shared_ptr<Node> node;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(Normalize(uri));
    if (it == files_.end()) return "";
    node = it->second;
  }
  std::lock_guard<std::mutex> lock(node->mu);
  return node->data;
}

void MemoryFileSystem::SetContents(const std::string& uri, std::string data) {
  auto node = std::make_shared<Node>();
  node->data = std::move(data);
  std::lock_guard<std::mutex> lock(mu_);
  files_[Normalize(uri)] = node;
}

}  // namespace tos
