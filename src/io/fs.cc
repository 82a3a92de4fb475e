#include "tos/fs.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

#include "io/hadoop_conf.h"
#include "io/local_fs.h"
#include "io/webhdfs_fs.h"

namespace tos {
namespace {

// Forwards to the WebHDFS client made from $HADOOP_CONF_DIR at the first call, so that a
// process that never touches HDFS never reads the Hadoop configuration.
class LazyHdfs final : public FileSystem {
 public:
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->NewSequentialFile(uri);
  }
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->NewWritableFile(uri);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->RenameFile(from, to);
  }
  Result<std::vector<DirEntry>> ListDir(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->ListDir(uri);
  }
  Status CreateDirs(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->CreateDirs(uri);
  }
  Result<bool> Exists(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->Exists(uri);
  }
  Result<bool> IsDirectory(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->IsDirectory(uri);
  }
  Status DeleteFile(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->DeleteFile(uri);
  }
  Status DeleteDir(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->DeleteDir(uri);
  }
  Result<uint64_t> GetFileSize(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->GetFileSize(uri);
  }
  Status DeleteRecursively(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->DeleteRecursively(uri);
  }
  Result<ContentSummary> GetContentSummary(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(FileSystem * fs, Get());
    return fs->GetContentSummary(uri);
  }

 private:
  Result<FileSystem*> Get() {
    std::call_once(once_, [this] {
      const Result<HadoopConfig>& conf = HadoopConfig::FromEnvironment();
      if (conf.ok()) {
        fs_ = NewWebHdfsFileSystem(*conf);
      } else {
        error_ = conf.status().WithContext("reading the Hadoop configuration ($HADOOP_CONF_DIR)");
      }
    });
    if (fs_ == nullptr) return error_;
    return fs_.get();
  }

  std::once_flag once_;
  std::shared_ptr<FileSystem> fs_;
  Status error_;
};

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<FileSystem>> by_scheme;
};

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry;
    auto local = NewLocalFileSystem();
    r->by_scheme[""] = local;
    r->by_scheme["file"] = local;
    // HDFS, configured from $HADOOP_CONF_DIR when it is first used.
    auto hdfs = std::make_shared<LazyHdfs>();
    r->by_scheme["hdfs"] = hdfs;
    r->by_scheme["webhdfs"] = hdfs;
    return r;
  }();
  return *registry;
}

}  // namespace

std::string_view UriScheme(std::string_view uri) {
  size_t colon = uri.find("://");
  if (colon == std::string_view::npos) return {};
  std::string_view scheme = uri.substr(0, colon);
  for (char c : scheme) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.';
    if (!ok) return {};
  }
  return scheme;
}

Result<FileSystem*> GetFileSystem(const std::string& uri) {
  std::string scheme(UriScheme(uri));
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_scheme.find(scheme);
  if (it == r.by_scheme.end()) {
    return NotFound(uri + ": no file system is registered for scheme '" + scheme + "://'");
  }
  return it->second.get();
}

void RegisterFileSystem(const std::string& scheme, std::shared_ptr<FileSystem> fs) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  // Replaced instances are kept alive: callers may still hold the raw pointer.
  static std::vector<std::shared_ptr<FileSystem>>* retired =
      new std::vector<std::shared_ptr<FileSystem>>;
  auto it = r.by_scheme.find(scheme);
  if (it != r.by_scheme.end()) retired->push_back(it->second);
  r.by_scheme[scheme] = std::move(fs);
}

Status FileSystem::DeleteRecursively(const std::string& uri) {
  TOS_ASSIGN_OR_RETURN(bool is_dir, IsDirectory(uri));
  if (!is_dir) return DeleteFile(uri);
  TOS_ASSIGN_OR_RETURN(auto entries, ListDir(uri));
  for (const DirEntry& e : entries) TOS_RETURN_IF_ERROR(DeleteRecursively(JoinPath(uri, e.name)));
  return DeleteDir(uri);
}

Result<ContentSummary> FileSystem::GetContentSummary(const std::string& uri) {
  ContentSummary s;
  TOS_ASSIGN_OR_RETURN(bool is_dir, IsDirectory(uri));
  if (!is_dir) {
    TOS_ASSIGN_OR_RETURN(s.bytes, GetFileSize(uri));
    s.files = 1;
    return s;
  }
  s.directories = 1;
  TOS_ASSIGN_OR_RETURN(auto entries, ListDir(uri));
  for (const DirEntry& e : entries) {
    TOS_ASSIGN_OR_RETURN(ContentSummary sub, GetContentSummary(JoinPath(uri, e.name)));
    s.bytes += sub.bytes;
    s.files += sub.files;
    s.directories += sub.directories;
  }
  return s;
}

Result<std::string> DefaultFs() {
  if (const char* fs = std::getenv("TOS_DEFAULT_FS"); fs != nullptr && *fs != '\0')
    return std::string(fs);
  const Result<HadoopConfig>& conf = HadoopConfig::FromEnvironment();
  if (!conf.ok()) return conf.status().WithContext("reading fs.defaultFS");
  return conf->Get("fs.defaultFS", "file:///");
}

Result<std::string> ResolvePath(const std::string& path) {
  if (path.empty() || !UriScheme(path).empty()) return path;
  TOS_ASSIGN_OR_RETURN(std::string fs, DefaultFs());
  const std::string_view scheme = UriScheme(fs);
  if (scheme.empty() || scheme == "file") return path;
  while (!fs.empty() && fs.back() == '/') fs.pop_back();
  if (path.front() == '/') return fs + path;
  return fs + "/user/" + HadoopUserName() + "/" + path;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  std::string out(a);  // a trailing '/' of `a` is kept: it may be the one of "scheme://"
  if (out.back() != '/') out.push_back('/');
  out.append(b);
  return out;
}

std::string_view Basename(std::string_view uri) {
  while (uri.size() > 1 && uri.back() == '/') uri.remove_suffix(1);
  size_t slash = uri.rfind('/');
  return slash == std::string_view::npos ? uri : uri.substr(slash + 1);
}

Result<std::string> ReadFileToString(const std::string& uri) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(uri));
  TOS_ASSIGN_OR_RETURN(auto file, fs->NewSequentialFile(uri));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    TOS_ASSIGN_OR_RETURN(size_t n, file->Read(buf, sizeof(buf)));
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

Status WriteStringToFile(const std::string& uri, std::string_view data) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(uri));
  TOS_ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(uri));
  TOS_RETURN_IF_ERROR(file->Append(data));
  return file->Close();
}

Status WriteFileAtomically(const std::string& uri, std::string_view data) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      uri + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(uri));
  Status s = [&]() -> Status {
    TOS_ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(tmp));
    TOS_RETURN_IF_ERROR(file->Append(data));
    TOS_RETURN_IF_ERROR(file->Sync());
    TOS_RETURN_IF_ERROR(file->Close());
    TOS_ASSIGN_OR_RETURN(uint64_t size, fs->GetFileSize(tmp));
    if (size != data.size()) {
      return DataLoss(tmp + ": holds " + std::to_string(size) + " bytes after writing " +
                      std::to_string(data.size()) + ": the storage lost part of the write");
    }
    return fs->RenameFile(tmp, uri);
  }();
  if (!s.ok()) {
    (void)fs->DeleteFile(tmp);
    return s.WithContext("writing " + uri);
  }
  return Status::OK();
}

}  // namespace tos
