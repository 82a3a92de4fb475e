#include "io/local_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tos {
namespace {

// "file:///a/b" -> "/a/b"; plain paths pass through.
std::string LocalPath(const std::string& uri) {
  static constexpr std::string_view kPrefix = "file://";
  if (uri.compare(0, kPrefix.size(), kPrefix) == 0) return uri.substr(kPrefix.size());
  return uri;
}

class LocalSequentialFile final : public SequentialFile {
 public:
  LocalSequentialFile(std::string uri, int fd) : uri_(std::move(uri)), fd_(fd) {}
  ~LocalSequentialFile() override { ::close(fd_); }

  Result<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::read(fd_, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return ErrnoError(uri_ + ": read", errno);
    }
  }
  const std::string& path() const override { return uri_; }

 private:
  std::string uri_;
  int fd_;
};

class LocalWritableFile final : public WritableFile {
 public:
  static constexpr size_t kBufferSize = 1 << 16;

  LocalWritableFile(std::string uri, int fd) : uri_(std::move(uri)), fd_(fd) {
    buffer_.reserve(kBufferSize);
  }
  ~LocalWritableFile() override {
    // Destroyed without Close(): the caller gave up on this file (its errors come from Close).
    if (fd_ >= 0) (void)Close();
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return Internal(uri_ + ": append after close");
    if (buffer_.size() + data.size() <= kBufferSize) {
      buffer_.append(data);
      return Status::OK();
    }
    TOS_RETURN_IF_ERROR(Flush());
    if (data.size() >= kBufferSize) return WriteAll(data.data(), data.size());
    buffer_.append(data);
    return Status::OK();
  }

  Status Flush() override {
    if (fd_ < 0) return Internal(uri_ + ": flush after close");
    Status s = WriteAll(buffer_.data(), buffer_.size());
    buffer_.clear();
    return s;
  }

  Status Sync() override {
    TOS_RETURN_IF_ERROR(Flush());
    if (::fdatasync(fd_) != 0) return ErrnoError(uri_ + ": fdatasync", errno);
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::OK();
    Status s = Flush();
    if (::close(fd_) != 0 && s.ok()) s = ErrnoError(uri_ + ": close", errno);
    fd_ = -1;
    return s;
  }
  const std::string& path() const override { return uri_; }

 private:
  Status WriteAll(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(uri_ + ": write", errno);
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::OK();
  }

  std::string uri_;
  int fd_;
  std::string buffer_;
};

class LocalFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& uri) override {
    int fd = ::open(LocalPath(uri).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(uri, errno);
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      return InvalidArgument(uri + ": is a directory, expected a file");
    }
    return std::unique_ptr<SequentialFile>(new LocalSequentialFile(uri, fd));
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& uri) override {
    int fd = ::open(LocalPath(uri).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError(uri, errno);
    return std::unique_ptr<WritableFile>(new LocalWritableFile(uri, fd));
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    const std::string dst = LocalPath(to);
    if (::rename(LocalPath(from).c_str(), dst.c_str()) != 0) {
      return ErrnoError("rename " + from + " -> " + to, errno);
    }
    // The rename is durable once the directory holding the new name is.
    const size_t slash = dst.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : dst.substr(0, slash));
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
    return Status::OK();
  }

  Result<std::vector<DirEntry>> ListDir(const std::string& uri) override {
    std::string dir = LocalPath(uri);
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoError(uri, errno);
    std::vector<DirEntry> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      DirEntry entry;
      entry.name = name;
      if (e->d_type == DT_DIR) {
        entry.is_dir = true;
      } else if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
        struct stat st;
        entry.is_dir = ::stat((dir + '/').append(name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      }
      out.push_back(std::move(entry));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    return out;
  }

  Status CreateDirs(const std::string& uri) override {
    std::string path = LocalPath(uri);
    if (path.empty()) return InvalidArgument("CreateDirs: empty path");
    for (size_t i = 1; i <= path.size(); ++i) {
      if (i != path.size() && path[i] != '/') continue;
      std::string prefix = path.substr(0, i);
      if (::mkdir(prefix.c_str(), 0755) == 0 || errno == EEXIST) continue;
      return ErrnoError(uri + ": mkdir " + prefix, errno);
    }
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoError(uri, errno);
    if (!S_ISDIR(st.st_mode)) return AlreadyExists(uri + ": exists and is not a directory");
    return Status::OK();
  }

  Result<bool> Exists(const std::string& uri) override {
    struct stat st;
    if (::stat(LocalPath(uri).c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoError(uri, errno);
  }

  Result<bool> IsDirectory(const std::string& uri) override {
    struct stat st;
    if (::stat(LocalPath(uri).c_str(), &st) == 0) return S_ISDIR(st.st_mode);
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoError(uri, errno);
  }

  Status DeleteFile(const std::string& uri) override {
    if (::unlink(LocalPath(uri).c_str()) != 0) return ErrnoError(uri + ": delete", errno);
    return Status::OK();
  }

  Status DeleteDir(const std::string& uri) override {
    if (::rmdir(LocalPath(uri).c_str()) != 0) return ErrnoError(uri + ": rmdir", errno);
    return Status::OK();
  }

  Result<uint64_t> GetFileSize(const std::string& uri) override {
    struct stat st;
    if (::stat(LocalPath(uri).c_str(), &st) != 0) return ErrnoError(uri, errno);
    return static_cast<uint64_t>(st.st_size);
  }
};

}  // namespace

std::shared_ptr<FileSystem> NewLocalFileSystem() { return std::make_shared<LocalFileSystem>(); }

}  // namespace tos
