#include "slapd/json/body.h"

#include <algorithm>
#include <vector>

namespace slap::json {

namespace {

// The first key an object of the document repeats ("" when none). RFC 8259 leaves repeated names
// to the implementation: simdjson's lookups take the first, a map's walk keeps the last, so
// {"title":"a","title":"b"} meant one thing to a check and another to what it guarded.
std::optional<std::string> repeated_key(simdjson::dom::element root) {
  std::vector<simdjson::dom::element> stack{root};
  std::vector<std::string_view> keys;
  while (!stack.empty()) {
    const simdjson::dom::element e = stack.back();
    stack.pop_back();
    simdjson::dom::object o;
    simdjson::dom::array a;
    if (!e.get_object().get(o)) {
      keys.clear();
      for (auto [k, v] : o) {
        keys.push_back(k);
        stack.push_back(v);
      }
      std::sort(keys.begin(), keys.end());
      if (auto d = std::adjacent_find(keys.begin(), keys.end()); d != keys.end()) return std::string(*d);
    } else if (!e.get_array().get(a)) {
      for (auto v : a) stack.push_back(v);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Body> Body::parse(std::string_view text, FieldError& error) {
  auto parser = std::make_shared<simdjson::dom::parser>();
  simdjson::dom::element doc;
  auto err = parser->parse(text.data(), text.size()).get(doc);
  if (err) {
    error = {"", std::string("malformed JSON: ") + simdjson::error_message(err)};
    return std::nullopt;
  }
  simdjson::dom::object o;
  if (doc.get_object().get(o)) {
    error = {"", "the body must be a JSON object"};
    return std::nullopt;
  }
  if (auto k = repeated_key(doc)) {
    error = {*k, "a key given twice in one object"};
    return std::nullopt;
  }
  return Body(std::move(parser), o);
}

std::optional<std::string> Body::string(std::string_view field, FieldError& error, size_t max_len) const {
  bool failed = false;
  auto v = optional_string(field, error, failed, max_len);
  if (failed) return std::nullopt;
  if (!v) {
    error = {std::string(field), "required"};
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> Body::optional_string(std::string_view field, FieldError& error, bool& failed, size_t max_len) const {
  simdjson::dom::element e;
  if (object_[field].get(e)) return std::nullopt;
  std::string_view s;
  if (e.get_string().get(s)) {
    error = {std::string(field), "expected a string"};
    failed = true;
    return std::nullopt;
  }
  // Characters, as JSON Schema's maxLength counts them (the reference's titles: 200), not bytes:
  // a title in Greek or Japanese is as long as it reads. The body is valid UTF-8 (simdjson checked
  // it), so the characters are the bytes that do not continue one.
  if (s.size() > max_len) {
    size_t characters = 0;
    for (const char c : s) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (characters > max_len) {
      error = {std::string(field), "longer than " + std::to_string(max_len) + " characters"};
      failed = true;
      return std::nullopt;
    }
  }
  return std::string(s);
}

std::optional<bool> Body::optional_bool(std::string_view field, FieldError& error, bool& failed) const {
  simdjson::dom::element e;
  if (object_[field].get(e)) return std::nullopt;
  bool b;
  if (e.get_bool().get(b)) {
    error = {std::string(field), "expected true or false"};
    failed = true;
    return std::nullopt;
  }
  return b;
}

std::optional<int64_t> Body::optional_int(std::string_view field, FieldError& error, bool& failed) const {
  simdjson::dom::element e;
  if (object_[field].get(e)) return std::nullopt;
  int64_t v;
  if (e.get_int64().get(v)) {
    error = {std::string(field), "expected an integer"};
    failed = true;
    return std::nullopt;
  }
  return v;
}

std::optional<StringPairs> Body::string_map(std::string_view field, FieldError& error, bool& failed, size_t max_entries) const {
  StringPairs out;
  simdjson::dom::element e;
  if (object_[field].get(e)) return out;
  simdjson::dom::object o;
  if (e.get_object().get(o)) {
    error = {std::string(field), "expected an object"};
    failed = true;
    return std::nullopt;
  }
  for (auto [k, v] : o) {
    if (out.size() >= max_entries) {
      error = {std::string(field), "more than " + std::to_string(max_entries) + " entries"};
      failed = true;
      return std::nullopt;
    }
    std::string_view s;
    if (!v.get_string().get(s)) {
      out.emplace_back(std::string(k), std::string(s));
    } else {
      out.emplace_back(std::string(k), simdjson::minify(v));
    }
  }
  return out;
}

bool Body::only_keys(std::initializer_list<std::string_view> allowed, FieldError& error) const {
  for (auto [k, v] : object_) {
    bool ok = false;
    for (auto a : allowed) ok = ok || a == k;
    if (!ok) {
      error = {std::string(k), "unknown field"};
      return false;
    }
  }
  return true;
}

}  // namespace slap::json
