#include "tos/fs.h"

#include <map>
#include <mutex>

#include "io/local_fs.h"

namespace tos {
namespace {

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

}  // namespace tos
