#include "io/webhdfs_fs.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>
#include <vector>

namespace tos {
namespace {

using Json = nlohmann::json;

// Bodies the namenode answers with (JSON) are small; anything larger is not WebHDFS.
constexpr size_t kMaxJsonBody = size_t{64} << 20;
constexpr long kReceiveBufferBytes = 512L << 10;
constexpr long kHttpOk = 200;
constexpr long kHttpCreated = 201;
constexpr long kHttpRedirect = 307;
constexpr long kHttpForbidden = 403;
constexpr long kHttpNotFound = 404;
constexpr long kHttpServerError = 500;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Easy handles keep their connections alive between requests: a small pool of them.
class HandlePool {
 public:
  ~HandlePool() {
    for (CURL* h : free_) curl_easy_cleanup(h);
  }
  CURL* Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        CURL* h = free_.back();
        free_.pop_back();
        curl_easy_reset(h);
        return h;
      }
    }
    GlobalInit();
    return curl_easy_init();
  }
  void Give(CURL* h) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxIdle) {
      free_.push_back(h);
    } else {
      curl_easy_cleanup(h);
    }
  }

 private:
  static constexpr size_t kMaxIdle = 16;
  std::mutex mu_;
  std::vector<CURL*> free_;
};

struct HttpReply {
  long status = 0;
  std::string body;
  std::string location;  // the Location header of a redirect
};

struct HttpRequest {
  const char* method = "GET";
  std::string url;
  const std::string_view* body = nullptr;  // sent as the request body (PUT/POST)
  size_t max_body = kMaxJsonBody;          // a longer answer is an error
};

struct Sink {
  std::string* out;
  size_t max;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * n;
  if (sink->out->size() + bytes > sink->max) {
    sink->overflow = true;
    return 0;  // makes curl fail the transfer
  }
  sink->out->append(data, bytes);
  return bytes;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* location = static_cast<std::string*>(user);
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "location:";
  if (line.size() > kName.size()) {
    std::string head(line.substr(0, kName.size()));
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (head == kName) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) {
        v.remove_suffix(1);
      }
      *location = std::string(v);
    }
  }
  return size * n;
}

// "http://host:port/..." -> "host:port", for messages.
std::string HostOfUrl(const std::string& url) {
  size_t s = url.find("://");
  size_t begin = s == std::string::npos ? 0 : s + 3;
  size_t end = url.find('/', begin);
  return url.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// Percent-encodes a path, keeping its slashes.
std::string EncodePath(const std::string& path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// A RemoteException answer: {"RemoteException": {"exception": ..., "message": ...}}.
struct RemoteError {
  std::string exception;
  std::string message;
};

RemoteError ParseRemoteError(const std::string& body) {
  RemoteError e;
  auto j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("RemoteException") && j["RemoteException"].is_object()) {
    const auto& r = j["RemoteException"];
    if (r.contains("exception") && r["exception"].is_string()) e.exception = r["exception"];
    if (r.contains("message") && r["message"].is_string()) e.message = r["message"];
  }
  if (e.message.empty()) e.message = body.substr(0, 300);
  return e;
}

bool IsStandby(const HttpReply& r) {
  if (r.status != kHttpForbidden) return false;
  RemoteError e = ParseRemoteError(r.body);
  return e.exception == "StandbyException" ||
         e.message.find("Operation category") != std::string::npos;
}

// A reply worth trying again: a server error other than a definitive one, or "retry later".
bool IsTransient(const HttpReply& r) {
  if (r.status >= kHttpServerError) {
    RemoteError e = ParseRemoteError(r.body);
    // These 500s are definitive (a bad argument, an existing file), not load or a restart.
    return e.exception != "IllegalArgumentException" &&
           e.exception != "FileAlreadyExistsException" &&
           e.exception != "UnsupportedOperationException";
  }
  if (r.status == kHttpForbidden) {
    RemoteError e = ParseRemoteError(r.body);
    return e.exception == "RetriableException" || e.exception == "SafeModeException";
  }
  return false;
}

// A datanode's 403 carrying an I/O failure of its own (it could not reach the namenode or
// another datanode: EOFException, ConnectException, ...): the next try goes back to the
// namenode, which answers for itself (or moves the read to another replica).
bool DatanodeLostItsPeer(const HttpReply& r) {
  if (r.status != kHttpForbidden) return false;
  const std::string e = ParseRemoteError(r.body).exception;
  return e == "IOException" || e == "EOFException" || e == "ConnectException" ||
         e == "SocketTimeoutException" || e == "NoRouteToHostException" || e == "StandbyException";
}

class WebHdfs;

class WebHdfsFile final : public SequentialFile {
 public:
  WebHdfsFile(WebHdfs* fs, std::string uri, uint64_t length)
      : fs_(fs), uri_(std::move(uri)), length_(length) {}
  ~WebHdfsFile() override = default;  // the ranges in flight are waited for
  Result<size_t> Read(char* buf, size_t n) override;
  const std::string& path() const override { return uri_; }

 private:
  std::future<Result<std::string>> Fetch(uint64_t offset);
  // Keeps read_ahead_ranges ranges requested beyond the one being consumed.
  void FillAhead();

  WebHdfs* fs_;
  std::string uri_;
  uint64_t length_;
  uint64_t fetched_ = 0;  // bytes of the file requested so far (current + ranges ahead)
  std::string range_;     // the range being consumed
  size_t pos_ = 0;        // position in range_
  std::deque<std::future<Result<std::string>>> ahead_;  // in file order
};

class WebHdfsWritableFile final : public WritableFile {
 public:
  WebHdfsWritableFile(WebHdfs* fs, std::string uri, size_t chunk)
      : fs_(fs), uri_(std::move(uri)), chunk_(chunk) {}
  ~WebHdfsWritableFile() override {
    if (!closed_) (void)Close();
  }
  Status Append(std::string_view data) override {
    if (closed_) return Internal(uri_ + ": append after close");
    buffer_.append(data);
    if (buffer_.size() >= chunk_) return Send();
    return Status::OK();
  }
  Status Flush() override {
    if (closed_) return Internal(uri_ + ": flush after close");
    return buffer_.empty() ? Status::OK() : Send();
  }
  Status Close() override;
  const std::string& path() const override { return uri_; }

 private:
  Status Send();

  WebHdfs* fs_;
  std::string uri_;
  size_t chunk_;
  std::string buffer_;
  bool created_ = false;
  bool closed_ = false;
  uint64_t written_ = 0;  // bytes the file holds on HDFS
};

class WebHdfs final : public FileSystem, public std::enable_shared_from_this<WebHdfs> {
 public:
  WebHdfs(HadoopConfig conf, WebHdfsOptions options)
      : conf_(std::move(conf)), opts_(std::move(options)) {
    if (opts_.user.empty()) opts_.user = HadoopUserName();
  }

  const WebHdfsOptions& options() const { return opts_; }

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(Json st, Status_(uri));
    if (st.value("type", "") == "DIRECTORY") {
      return InvalidArgument(uri + ": is a directory, expected a file");
    }
    return std::unique_ptr<SequentialFile>(
        new WebHdfsFile(this, uri, st.value("length", uint64_t{0})));
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& uri) override {
    // The parent must exist, as for local files (CREATE would make it silently).
    std::string authority, path;
    SplitHdfsUri(uri, &authority, &path);
    const std::string parent = path.substr(0, std::max<size_t>(path.rfind('/'), 1));
    const std::string parent_uri = uri.substr(0, uri.size() - path.size()) + parent;
    TOS_ASSIGN_OR_RETURN(bool is_dir, IsDirectory(parent_uri));
    if (!is_dir) return NotFound(uri + ": the directory " + parent_uri + " does not exist");
    return std::unique_ptr<WritableFile>(
        new WebHdfsWritableFile(this, uri, opts_.write_chunk_bytes));
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    std::string authority, to_path;
    SplitHdfsUri(to, &authority, &to_path);
    // OVERWRITE gives rename's atomic replace (the namenode's rename2), as POSIX rename does.
    TOS_ASSIGN_OR_RETURN(
        HttpReply r, Namenode(from, "PUT", "RENAME",
                              "&destination=" + EncodePath(to_path) + "&renameoptions=OVERWRITE"));
    if (r.status != kHttpOk) return Failure(r, "rename " + from + " -> " + to);
    return Status::OK();
  }

  Result<std::vector<DirEntry>> ListDir(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(HttpReply r, Namenode(uri, "GET", "LISTSTATUS", ""));
    if (r.status != kHttpOk) return Failure(r, uri);
    TOS_ASSIGN_OR_RETURN(Json j, ParseJson(r, uri));
    std::vector<DirEntry> out;
    try {
      for (const auto& s : j.at("FileStatuses").at("FileStatus")) {
        DirEntry e;
        e.name = s.at("pathSuffix").get<std::string>();
        e.is_dir = s.at("type").get<std::string>() == "DIRECTORY";
        if (e.name.empty()) {
          return InvalidArgument(uri + ": is a file, expected a directory");
        }
        out.push_back(std::move(e));
      }
    } catch (const std::exception& e) {
      return DataLoss(uri + ": unexpected LISTSTATUS answer from the namenode: " + e.what());
    }
    std::sort(out.begin(), out.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    return out;
  }

  Status CreateDirs(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(HttpReply r, Namenode(uri, "PUT", "MKDIRS", "&permission=755"));
    if (r.status != kHttpOk) return Failure(r, uri + ": mkdirs");
    TOS_ASSIGN_OR_RETURN(Json j, ParseJson(r, uri));
    if (!j.value("boolean", false)) return AlreadyExists(uri + ": exists and is not a directory");
    return Status::OK();
  }

  Result<bool> Exists(const std::string& uri) override {
    auto st = Status_(uri);
    if (st.ok()) return true;
    if (st.status().code() == StatusCode::kNotFound) return false;
    return st.status();
  }

  Result<bool> IsDirectory(const std::string& uri) override {
    auto st = Status_(uri);
    if (st.ok()) return st->value("type", "") == "DIRECTORY";
    if (st.status().code() == StatusCode::kNotFound) return false;
    return st.status();
  }

  Status DeleteFile(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(Json st, Status_(uri));
    if (st.value("type", "") == "DIRECTORY") return InvalidArgument(uri + ": is a directory");
    return Delete(uri, false);
  }

  Status DeleteDir(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(Json st, Status_(uri));
    if (st.value("type", "") != "DIRECTORY") return InvalidArgument(uri + ": is not a directory");
    return Delete(uri, false);
  }

  Status DeleteRecursively(const std::string& uri) override { return Delete(uri, true); }

  Result<uint64_t> GetFileSize(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(Json st, Status_(uri));
    return st.value("length", uint64_t{0});
  }

  Result<ContentSummary> GetContentSummary(const std::string& uri) override {
    TOS_ASSIGN_OR_RETURN(HttpReply r, Namenode(uri, "GET", "GETCONTENTSUMMARY", ""));
    if (r.status != kHttpOk) return Failure(r, uri);
    TOS_ASSIGN_OR_RETURN(Json j, ParseJson(r, uri));
    ContentSummary s;
    try {
      const auto& c = j.at("ContentSummary");
      s.bytes = c.at("length").get<uint64_t>();
      s.files = c.at("fileCount").get<uint64_t>();
      s.directories = c.at("directoryCount").get<uint64_t>();
    } catch (const std::exception& e) {
      return DataLoss(uri + ": unexpected GETCONTENTSUMMARY answer: " + e.what());
    }
    return s;
  }

  // One range of a file: OPEN at the namenode, then the datanode it redirects to.
  Result<std::string> ReadRange(const std::string& uri, uint64_t offset, uint64_t length) {
    const std::string params =
        "&offset=" + std::to_string(offset) + "&length=" + std::to_string(length);
    Status last;
    for (int attempt = 0; attempt < opts_.attempts; ++attempt) {
      if (attempt > 0) Backoff(attempt);
      TOS_ASSIGN_OR_RETURN(HttpReply r, Namenode(uri, "GET", "OPEN", params));
      if (r.status != kHttpRedirect) return Failure(r, uri);
      HttpRequest dn;
      dn.url = r.location;
      dn.max_body = length;
      HttpReply d;
      d.body.reserve(length);  // one copy out of curl's buffer, no regrowth
      Status s = Perform(dn, &d);
      if (!s.ok()) {
        last = Unavailable(uri + ": reading bytes " + std::to_string(offset) + "-" +
                           std::to_string(offset + length) + " from the datanode " +
                           HostOfUrl(r.location) + ": " + s.message());
        continue;
      }
      if (d.status != kHttpOk) {
        last = Failure(d, uri + " (datanode " + HostOfUrl(r.location) + ")");
        if (IsTransient(d) || DatanodeLostItsPeer(d)) continue;
        return last;
      }
      if (d.body.size() != length) {
        return DataLoss(uri + ": the datanode " + HostOfUrl(r.location) + " returned " +
                        std::to_string(d.body.size()) + " bytes at offset " +
                        std::to_string(offset) + ", " + std::to_string(length) +
                        " expected (the file changed or was truncated while read)");
      }
      return std::move(d.body);
    }
    return Status(last.code(), last.message() + " (after " + std::to_string(opts_.attempts) +
                                   " attempts): check that the datanode runs and that this " +
                                   "host can reach its HTTP address");
  }

  // Writes `data` as the whole file (CREATE, overwrite) or at its end (APPEND). `expected_before`
  // is the file's length before an APPEND: a retried APPEND whose first try reached the file is
  // recognised by the length, never doubled.
  Status WriteChunk(const std::string& uri, std::string_view data, bool create,
                    uint64_t expected_before) {
    const char* method = create ? "PUT" : "POST";
    const char* op = create ? "CREATE" : "APPEND";
    const std::string params = create ? "&overwrite=true&permission=644" : "";
    Status last;
    for (int attempt = 0; attempt < opts_.attempts; ++attempt) {
      if (attempt > 0) {
        Backoff(attempt);
        if (!create) {
          TOS_ASSIGN_OR_RETURN(uint64_t now, GetFileSize(uri));
          if (now == expected_before + data.size()) return Status::OK();  // it did land
          if (now != expected_before) {
            return DataLoss(uri + ": " + std::to_string(now) + " bytes on HDFS after a failed " +
                            "append, expected " + std::to_string(expected_before) + " or " +
                            std::to_string(expected_before + data.size()) +
                            ": another writer changed the file; write it again");
          }
        }
      }
      TOS_ASSIGN_OR_RETURN(HttpReply r, Namenode(uri, method, op, params));
      if (r.status != kHttpRedirect) return Failure(r, uri + ": " + op);
      HttpRequest dn;
      dn.method = method;
      dn.url = r.location;
      dn.body = &data;
      HttpReply d;
      Status s = Perform(dn, &d);
      if (!s.ok()) {
        last = Unavailable(uri + ": writing " + std::to_string(data.size()) +
                           " bytes to the datanode " + HostOfUrl(r.location) + ": " + s.message());
        continue;
      }
      if (d.status == kHttpOk || d.status == kHttpCreated) return Status::OK();
      last = Failure(d, uri + ": " + op + " at the datanode " + HostOfUrl(r.location));
      if (!IsTransient(d)) return last;
    }
    return Status(last.code(),
                  last.message() + " (after " + std::to_string(opts_.attempts) + " attempts)");
  }

 private:
  void Backoff(int attempt) const {
    const double s = opts_.first_backoff_s * std::pow(2.0, attempt - 1);
    std::this_thread::sleep_for(std::chrono::duration<double>(s));
  }

  Status Perform(const HttpRequest& req, HttpReply* reply) {
    CURL* h = pool_.Take();
    if (h == nullptr) return Internal("curl_easy_init failed");
    Sink sink{&reply->body, req.max_body};
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(opts_.connect_timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     std::max(1L, static_cast<long>(std::lround(opts_.stall_timeout_s))));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    // Fewer, larger socket reads for the datanodes' multi-megabyte answers.
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &reply->location);
    struct curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Expect:");
    const std::string_view method(req.method);
    if (method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method);
      const std::string_view body = req.body != nullptr ? *req.body : std::string_view();
      if (method != "DELETE" || !body.empty()) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data() != nullptr ? body.data() : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
      }
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      curl_easy_cleanup(h);  // a failed connection is not reused
      if (sink.overflow) {
        return DataLoss("the answer from " + HostOfUrl(req.url) + " is longer than the " +
                        std::to_string(req.max_body) + " bytes expected");
      }
      std::string why = error[0] != '\0' ? error : curl_easy_strerror(rc);
      if (rc == CURLE_OPERATION_TIMEDOUT) {
        return Timeout(why + " (no byte for " + std::to_string(opts_.stall_timeout_s) + " s)");
      }
      return Unavailable(why);
    }
    pool_.Give(h);
    return Status::OK();
  }

  // A namenode request, with retries and failover between the namenodes of a nameservice.
  Result<HttpReply> Namenode(const std::string& uri, const char* method, const char* op,
                             const std::string& params) {
    std::string authority, path;
    if (!SplitHdfsUri(uri, &authority, &path)) {
      return InvalidArgument(uri + ": not an hdfs:// or webhdfs:// URI");
    }
    TOS_ASSIGN_OR_RETURN(std::vector<std::string> nns, HttpAddresses(uri, authority));
    const std::string query = "/webhdfs/v1" + EncodePath(path) + "?op=" + op +
                              "&user.name=" + EncodePath(opts_.user) + params;
    std::string failures;
    bool all_standby = true;
    const size_t first = active_.load() % nns.size();
    for (int attempt = 0; attempt < opts_.attempts; ++attempt) {
      if (attempt > 0) Backoff(attempt);
      failures.clear();
      all_standby = true;
      for (size_t k = 0; k < nns.size(); ++k) {
        const size_t i = (first + k) % nns.size();
        HttpRequest req;
        req.method = method;
        req.url = "http://" + nns[i] + query;
        HttpReply r;
        Status s = Perform(req, &r);
        if (s.ok() && !IsStandby(r) && !IsTransient(r)) {
          active_.store(i);
          return r;
        }
        if (!s.ok()) {
          all_standby = false;
          failures += "\n  namenode " + nns[i] + ": " + s.message();
        } else if (IsStandby(r)) {
          failures += "\n  namenode " + nns[i] + ": standby";
        } else {
          all_standby = false;
          RemoteError e = ParseRemoteError(r.body);
          failures += "\n  namenode " + nns[i] + ": HTTP " + std::to_string(r.status) + " " +
                      e.exception + ": " + e.message;
        }
      }
    }
    std::string what = uri + ": " + op + " failed on every namenode after " +
                       std::to_string(opts_.attempts) + " attempts:" + failures;
    if (all_standby) {
      return Unavailable(what + "\n  every namenode is standby: make one active (hdfs haadmin " +
                         "-transitionToActive) or check dfs.ha.namenodes in the configuration");
    }
    return Unavailable(what + "\n  check that the namenode runs, that its WebHDFS is on " +
                       "(dfs.webhdfs.enabled) and that dfs.namenode.http-address (in " +
                       (conf_.conf_dir().empty() ? std::string("HADOOP_CONF_DIR")
                                                 : conf_.conf_dir() + "/hdfs-site.xml") +
                       ") or the webhdfs:// port is its HTTP address");
  }

  Result<std::vector<std::string>> HttpAddresses(const std::string& uri,
                                                 const std::string& authority) const {
    if (UriScheme(uri) == "webhdfs") {
      if (authority.empty()) return InvalidArgument(uri + ": webhdfs:// needs HOST:PORT");
      return std::vector<std::string>{authority.find(':') == std::string::npos
                                          ? authority + ":" +
                                                std::to_string(kDefaultNamenodeHttpPort)
                                          : authority};
    }
    auto nns = conf_.NamenodeHttpAddresses(authority);
    if (!nns.ok()) return nns.status().WithContext(uri);
    return nns;
  }

  Result<Json> Status_(const std::string& uri) {
    TOS_ASSIGN_OR_RETURN(HttpReply r, Namenode(uri, "GET", "GETFILESTATUS", ""));
    if (r.status != kHttpOk) return Failure(r, uri);
    TOS_ASSIGN_OR_RETURN(Json j, ParseJson(r, uri));
    if (!j.contains("FileStatus") || !j["FileStatus"].is_object()) {
      return DataLoss(uri + ": unexpected GETFILESTATUS answer from the namenode");
    }
    return j["FileStatus"];
  }

  Status Delete(const std::string& uri, bool recursive) {
    TOS_ASSIGN_OR_RETURN(HttpReply r, Namenode(uri, "DELETE", "DELETE",
                                               recursive ? "&recursive=true" : "&recursive=false"));
    if (r.status != kHttpOk) return Failure(r, uri + ": delete");
    TOS_ASSIGN_OR_RETURN(Json j, ParseJson(r, uri));
    if (!j.value("boolean", false)) return NotFound(uri + ": no such file or directory to delete");
    return Status::OK();
  }

  static Result<Json> ParseJson(const HttpReply& r, const std::string& uri) {
    Json j = Json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return DataLoss(uri + ": the namenode's answer is not JSON: " + r.body.substr(0, 200));
    }
    return j;
  }

  // The Status for an error answer, naming `what` and saying what to do.
  Status Failure(const HttpReply& r, const std::string& what) const {
    RemoteError e = ParseRemoteError(r.body);
    const std::string detail = e.exception.empty() ? e.message : e.exception + ": " + e.message;
    if (r.status == kHttpNotFound || e.exception == "FileNotFoundException") {
      return NotFound(what + ": no such file or directory on HDFS (" + e.message + ")");
    }
    if (e.exception == "AccessControlException" || e.exception == "SecurityException") {
      return PermissionDenied(what + ": permission denied for HDFS user '" + opts_.user + "' (" +
                              e.message + "): run as a user allowed to (HADOOP_USER_NAME) or " +
                              "have the owner grant access (hdfs dfs -chmod/-chown)");
    }
    if (e.exception == "FileAlreadyExistsException") return AlreadyExists(what + ": " + e.message);
    if (r.status == kHttpForbidden || r.status == 400) {
      return InvalidArgument(what + ": HTTP " + std::to_string(r.status) + " " + detail);
    }
    return Unavailable(what + ": HTTP " + std::to_string(r.status) + " " + detail);
  }

  HadoopConfig conf_;
  WebHdfsOptions opts_;
  HandlePool pool_;
  std::atomic<size_t> active_{0};  // the namenode that last answered as active
};

std::future<Result<std::string>> WebHdfsFile::Fetch(uint64_t offset) {
  const uint64_t n = std::min<uint64_t>(fs_->options().read_range_bytes, length_ - offset);
  fetched_ = offset + n;
  return std::async(std::launch::async,
                    [fs = fs_, uri = uri_, offset, n] { return fs->ReadRange(uri, offset, n); });
}

void WebHdfsFile::FillAhead() {
  while (ahead_.size() < fs_->options().read_ahead_ranges && fetched_ < length_) {
    ahead_.push_back(Fetch(fetched_));
  }
}

Result<size_t> WebHdfsFile::Read(char* buf, size_t n) {
  if (pos_ == range_.size()) {
    FillAhead();
    if (ahead_.empty()) return size_t{0};
    Result<std::string> r = ahead_.front().get();
    ahead_.pop_front();
    if (!r.ok()) return r.status();
    range_ = std::move(r).value();
    pos_ = 0;
    FillAhead();
    if (range_.empty()) return size_t{0};
  }
  const size_t k = std::min(n, range_.size() - pos_);
  std::copy_n(range_.data() + pos_, k, buf);
  pos_ += k;
  return k;
}

Status WebHdfsWritableFile::Send() {
  TOS_RETURN_IF_ERROR(fs_->WriteChunk(uri_, buffer_, !created_, written_));
  created_ = true;
  written_ += buffer_.size();
  buffer_.clear();
  return Status::OK();
}

Status WebHdfsWritableFile::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  if (!created_ || !buffer_.empty()) return Send();  // an empty file is still created
  return Status::OK();
}

}  // namespace

bool SplitHdfsUri(const std::string& uri, std::string* authority, std::string* path) {
  size_t s = uri.find("://");
  if (s == std::string::npos) return false;
  size_t begin = s + 3;
  size_t slash = uri.find('/', begin);
  *authority = uri.substr(begin, slash == std::string::npos ? std::string::npos : slash - begin);
  *path = slash == std::string::npos ? "/" : uri.substr(slash);
  while (path->size() > 1 && path->back() == '/') path->pop_back();
  return true;
}

std::shared_ptr<FileSystem> NewWebHdfsFileSystem(HadoopConfig conf, WebHdfsOptions options) {
  return std::make_shared<WebHdfs>(std::move(conf), std::move(options));
}

}  // namespace tos
