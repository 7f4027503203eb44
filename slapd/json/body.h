#pragma once
// Request bodies parsed with simdjson and read field by field. Every accessor names the field in
// its error, so a client learns exactly what was wrong ("field 'title': expected a string").
#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slap::json {

struct FieldError {
  std::string field;
  std::string detail;
};

using StringPairs = std::vector<std::pair<std::string, std::string>>;

class Body {
 public:
  // Parses `text` (a JSON object, at most max_bytes). On failure, error() says why.
  static std::optional<Body> parse(std::string_view text, FieldError& error);

  // Required string: error when missing or not a string, or longer than max_len characters
  // (Unicode code points, as JSON Schema's maxLength: up to 4 bytes each).
  std::optional<std::string> string(std::string_view field, FieldError& error, size_t max_len = 4096) const;
  // Optional string: nullopt when absent; error when present but wrong.
  std::optional<std::string> optional_string(std::string_view field, FieldError& error, bool& failed, size_t max_len = 4096) const;
  std::optional<bool> optional_bool(std::string_view field, FieldError& error, bool& failed) const;
  std::optional<int64_t> optional_int(std::string_view field, FieldError& error, bool& failed) const;
  // An object whose values become strings: strings as they are, other JSON values serialised.
  // Absent: empty. Error when present but not an object, or larger than max_entries.
  std::optional<StringPairs> string_map(std::string_view field, FieldError& error, bool& failed, size_t max_entries = 1024) const;
  // Keys outside `allowed` are refused (the JSON-RPC schemas say additionalProperties: false).
  bool only_keys(std::initializer_list<std::string_view> allowed, FieldError& error) const;
  simdjson::dom::object object() const { return object_; }

 private:
  Body(std::shared_ptr<simdjson::dom::parser> parser, simdjson::dom::object o) : parser_(std::move(parser)), object_(o) {}
  std::shared_ptr<simdjson::dom::parser> parser_;  // owns the parsed document
  simdjson::dom::object object_;
};

}  // namespace slap::json
