#pragma once
// The node's error vocabulary: a small closed set of codes plus a sentence. Every fallible
// function returns Status or Result<T>; exceptions are only thrown (and caught) at start-up.
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace slap::node {

enum class Errc {
  kOk = 0,
  kInvalid,      // malformed input: profile, JSON, config, a hostile field
  kNotFound,     // a file, section, key or partition that does not exist
  kIo,           // local filesystem or process failure
  kUnreachable,  // the master (or a download server) could not be reached after retries
  kProtocol,     // the server answered, but with an error status or a body we refuse
  kChecksum,     // downloaded bytes do not match the required sha256
  kBuild,        // a build step failed
  kCycle,        // extends or substitution loops
  kTimeout,      // a command or a wait passed its deadline
  kPromise,      // an instance promise failed
  kCancelled,    // slapnode is stopping (a signal): the work was interrupted, not failed
  kDeferred,     // waits for something else first (a destroy for its last usage journal): not failed
};

const char* errc_name(Errc c);

struct Error {
  Errc code = Errc::kOk;
  std::string detail;
  std::string to_string() const { return std::string(errc_name(code)) + ": " + detail; }
};

inline Error make_error(Errc c, std::string detail) { return Error{c, std::move(detail)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}      // NOLINT: implicit, like std::expected
  Result(Error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)) {}  // NOLINT
  bool ok() const noexcept { return error_.code == Errc::kOk; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

}  // namespace slap::node
