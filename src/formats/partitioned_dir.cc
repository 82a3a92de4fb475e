#include "tos/partitioned_dir.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace tos {
namespace {

constexpr std::string_view kTempPrefix = ".part-";
constexpr std::string_view kTempSuffix = ".tmp";

bool IsTempPartName(std::string_view name) {
  return name.size() > kTempPrefix.size() + kTempSuffix.size() &&
         name.substr(0, kTempPrefix.size()) == kTempPrefix &&
         name.substr(name.size() - kTempSuffix.size()) == kTempSuffix;
}

// Renames the temporary into place on Close(); deletes it if abandoned.
class CommittingFile final : public WritableFile {
 public:
  CommittingFile(FileSystem* fs, std::unique_ptr<WritableFile> tmp, std::string tmp_uri,
                 std::string final_uri)
      : fs_(fs),
        tmp_(std::move(tmp)),
        tmp_uri_(std::move(tmp_uri)),
        final_uri_(std::move(final_uri)) {}

  ~CommittingFile() override {
    if (!done_) {
      // Abandoned (never committed): the temporary file is dropped; failing to drop it
      // leaves only a hidden ".part-*.tmp" file that no reader takes as a part.
      (void)tmp_->Close();
      (void)fs_->DeleteFile(tmp_uri_);
    }
  }

  Status Append(std::string_view data) override { return Check(tmp_->Append(data)); }
  Status Flush() override { return Check(tmp_->Flush()); }
  Status Close() override {
    if (done_)
      return failed_ ? Internal(final_uri_ + ": close after a failed write") : Status::OK();
    done_ = true;
    Status s = tmp_->Close();
    if (s.ok() && !failed_) s = fs_->RenameFile(tmp_uri_, final_uri_);
    if (!s.ok() || failed_) {
      (void)fs_->DeleteFile(tmp_uri_);  // the error returned below is the one to report
      return s.ok() ? Internal(final_uri_ + ": close after a failed write") : s;
    }
    return Status::OK();
  }
  const std::string& path() const override { return final_uri_; }

 private:
  Status Check(Status s) {
    if (!s.ok()) failed_ = true;
    return s;
  }

  FileSystem* fs_;
  std::unique_ptr<WritableFile> tmp_;
  std::string tmp_uri_;
  std::string final_uri_;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace

std::string PartFileName(size_t index, std::string_view suffix) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "part-%05zu", index);
  std::string name = buf;
  name.append(suffix);
  return name;
}

bool ParsePartFileName(std::string_view name, size_t* index) {
  if (name.substr(0, 5) != "part-") return false;
  name.remove_prefix(5);
  if (name.size() >= 2 && (name[0] == 'r' || name[0] == 'm') && name[1] == '-') {
    name.remove_prefix(2);
  }
  size_t digits = 0;
  size_t value = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') {
    if (digits >= 12) return false;
    value = value * 10 + static_cast<size_t>(name[digits] - '0');
    ++digits;
  }
  if (digits == 0) return false;
  // An extension, or Spark SQL's "-<job uuid>-c000.snappy.parquet".
  if (digits < name.size() && name[digits] != '.' && name[digits] != '-') return false;
  *index = value;
  return true;
}

Result<std::vector<std::string>> ListPartFiles(const std::string& dir, bool allow_incomplete) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(dir));
  TOS_ASSIGN_OR_RETURN(bool is_dir, fs->IsDirectory(dir));
  if (!is_dir) {
    TOS_ASSIGN_OR_RETURN(bool exists, fs->Exists(dir));
    if (exists) return InvalidArgument(dir + ": is a file, expected a dataset directory");
    return NotFound(dir + ": dataset directory does not exist");
  }
  TOS_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, fs->ListDir(dir));
  bool success = false;
  std::vector<std::pair<size_t, std::string>> parts;
  for (const DirEntry& e : entries) {
    if (e.name == kSuccessMarker && !e.is_dir) success = true;
    size_t index;
    if (!e.is_dir && ParsePartFileName(e.name, &index)) parts.emplace_back(index, e.name);
  }
  if (!success && !allow_incomplete) {
    return DataLoss(dir + ": no " + std::string(kSuccessMarker) + " marker: the dataset is " +
                    "incomplete (its writer failed or is still running); " +
                    "--allow-incomplete reads the " + std::to_string(parts.size()) +
                    " parts present");
  }
  std::sort(parts.begin(), parts.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0 && parts[i].first == parts[i - 1].first) {
      return DataLoss(dir + ": two files for partition " + std::to_string(parts[i].first) + ": " +
                      parts[i - 1].second + " and " + parts[i].second);
    }
    if (!allow_incomplete && parts[i].first != i) {
      return DataLoss(dir + ": " + PartFileName(i) + " is missing (next part is " +
                      parts[i].second + "); --allow-incomplete reads the parts present");
    }
    out.push_back(JoinPath(dir, parts[i].second));
  }
  return out;
}

Result<std::unique_ptr<WritableFile>> CreatePartFile(const std::string& dir,
                                                     const std::string& name, Compression c,
                                                     int gzip_level) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(dir));
  std::string tmp_name = "." + name + std::string(kTempSuffix);
  std::string tmp_uri = JoinPath(dir, tmp_name);
  TOS_ASSIGN_OR_RETURN(auto tmp, fs->NewWritableFile(tmp_uri));
  std::unique_ptr<WritableFile> file =
      std::make_unique<CommittingFile>(fs, std::move(tmp), tmp_uri, JoinPath(dir, name));
  if (c == Compression::kGzip) file = NewGzipWritableFile(std::move(file), gzip_level);
  return file;
}

Status WriteSuccessMarker(const std::string& dir) {
  return WriteStringToFile(JoinPath(dir, kSuccessMarker), "");
}

Result<bool> HoldsDataset(const std::string& dir) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(dir));
  TOS_ASSIGN_OR_RETURN(bool is_dir, fs->IsDirectory(dir));
  if (!is_dir) return false;
  TOS_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, fs->ListDir(dir));
  for (const DirEntry& e : entries) {
    size_t index;
    if (e.is_dir) continue;
    if (e.name == kSuccessMarker || IsTempPartName(e.name) || ParsePartFileName(e.name, &index)) {
      return true;
    }
  }
  return false;
}

Status RemoveDataset(const std::string& dir) {
  TOS_ASSIGN_OR_RETURN(FileSystem * fs, GetFileSystem(dir));
  TOS_ASSIGN_OR_RETURN(bool is_dir, fs->IsDirectory(dir));
  if (!is_dir) return Status::OK();
  TOS_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, fs->ListDir(dir));
  // The marker goes first: a crash half-way leaves an incomplete dataset, never a wrong one.
  for (const DirEntry& e : entries) {
    if (!e.is_dir && e.name == kSuccessMarker) {
      TOS_RETURN_IF_ERROR(fs->DeleteFile(JoinPath(dir, e.name)));
    }
  }
  size_t kept = 0;
  for (const DirEntry& e : entries) {
    size_t index;
    if (e.is_dir || e.name == kSuccessMarker) {
      kept += e.is_dir;
      continue;
    }
    if (IsTempPartName(e.name) || ParsePartFileName(e.name, &index)) {
      TOS_RETURN_IF_ERROR(fs->DeleteFile(JoinPath(dir, e.name)));
    } else {
      ++kept;
    }
  }
  if (kept == 0) TOS_RETURN_IF_ERROR(fs->DeleteDir(dir));
  return Status::OK();
}

}  // namespace tos
