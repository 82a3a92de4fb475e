// Status and Result<T>: the one error type at every module boundary.
//
// Rule (see docs/errors.md): internal modules and the driver API (Cluster) return Status or
// Result<T> and never throw. The node-side training API (Context, DataFeed) throws
// tos::Error (an exception carrying the Status), because user code calls it from map_fun
// and an exception there is what the node runner reports to the driver.
//
// A Status message is written for the user: it names the file and byte offset, the node's
// role and id, the peer address, and what was expected. Context is prepended with
// WithContext("while reading part-00003") so causes chain outermost-first.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tos {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // the caller passed something unusable (bad flag, bad path)
  kNotFound,          // file, directory, partition or key missing
  kAlreadyExists,     // refusing to overwrite
  kDataLoss,          // corrupt or truncated data (CRC mismatch, short read)
  kTimeout,           // a wait ran past its deadline
  kUnavailable,       // peer unreachable, connection closed
  kPermissionDenied,  // authentication failed
  kAborted,           // the job was stopped (another node failed, terminate())
  kInternal,          // a bug or an unexpected system error
  kUnimplemented,     // a feature this build does not have
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "DataLoss: data/train/part-00003: offset 1234: CRC mismatch"
  std::string ToString() const;

  // Prefixes context: Status(kDataLoss, "bad CRC").WithContext("part-00003") ->
  // "part-00003: bad CRC". No-op on OK.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }

// errno-based error: "<what>: <strerror(err)>", code chosen from err.
Status ErrnoError(const std::string& what, int err);
// strerror(err), safe to call from any thread.
std::string StrError(int err);

namespace internal {
// Prints "tos::Result accessed without a value: <code>: <message>" to stderr and aborts.
[[noreturn]] void ResultAccessFailed(const Status& status);
}  // namespace internal

// Result<T>: a value or a non-OK Status. Reading the value of an error Result (value(), *, ->)
// is a bug in the caller: it prints the error and aborts, in every build type.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & { return Checked(); }
  const T& value() const& { return Checked(); }
  T&& value() && { return std::move(Checked()); }
  T* operator->() { return &Checked(); }
  const T* operator->() const { return &Checked(); }
  T& operator*() & { return Checked(); }
  const T& operator*() const& { return Checked(); }

 private:
  T& Checked() {
    if (!value_) internal::ResultAccessFailed(status_);
    return *value_;
  }
  const T& Checked() const {
    if (!value_) internal::ResultAccessFailed(status_);
    return *value_;
  }

  Status status_;
  std::optional<T> value_;
};

// Exception form of a Status, used by the user-facing training API (see the rule above).
class Error : public std::runtime_error {
 public:
  explicit Error(Status status)
      : std::runtime_error(status.ToString()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Throws tos::Error if !s.ok().
inline void ThrowIfError(const Status& s) {
  if (!s.ok()) throw Error(s);
}
template <typename T>
T ValueOrThrow(Result<T> r) {
  if (!r.ok()) throw Error(r.status());
  return std::move(r).value();
}

}  // namespace tos

#define TOS_CONCAT_INNER_(a, b) a##b
#define TOS_CONCAT_(a, b) TOS_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if it is not OK.
#define TOS_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::tos::Status _tos_status = (expr);        \
    if (!_tos_status.ok()) return _tos_status; \
  } while (0)

// TOS_ASSIGN_OR_RETURN(auto x, MakeX()); returns the Status if MakeX() failed.
#define TOS_ASSIGN_OR_RETURN(lhs, rexpr) \
  TOS_ASSIGN_OR_RETURN_IMPL_(TOS_CONCAT_(_tos_result_, __LINE__), lhs, rexpr)
// tmp and lhs are declarations: they cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define TOS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
