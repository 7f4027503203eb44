#pragma once
// JSON written straight into one string, for the answers on the hot path (an instance request's
// answer is rendered once per allocation on the I/O thread). Building a boost::json::object first
// allocated every key and value again, then hashed and serialised them: 12% of the I/O thread's
// samples under the HTTP allocation load. Strings are escaped by boost::json's own serializer, so
// the bytes are those boost::json::serialize writes for the same document.
#include <boost/json/serializer.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace slap::slapd {

class JsonText {
 public:
  explicit JsonText(std::string& out) : out_(out) {}

  JsonText& open_object() { return open('{'); }
  JsonText& close_object() { return close('}'); }
  JsonText& open_array() { return open('['); }
  JsonText& close_array() { return close(']'); }
  // The member name of the next value (inside an object).
  JsonText& key(std::string_view k) {
    comma();
    escaped(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonText& string(std::string_view s) {
    comma();
    escaped(s);
    return *this;
  }
  JsonText& number(int64_t n) {
    comma();
    char digits[24];  // int64 needs 20 characters at most
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    out_.append(digits, end);
    return *this;
  }
  JsonText& boolean(bool b) {
    comma();
    out_ += b ? "true" : "false";
    return *this;
  }
  JsonText& null() {
    comma();
    out_ += "null";
    return *this;
  }

 private:
  JsonText& open(char c) {
    comma();
    out_ += c;
    first_ = true;
    return *this;
  }
  JsonText& close(char c) {
    out_ += c;
    first_ = false;
    return *this;
  }
  // A separator before every value but the first of its container, and never right after a key.
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_) out_ += ',';
    first_ = false;
  }
  void escaped(std::string_view s) {
    serializer_.reset(boost::json::string_view(s.data(), s.size()));
    char buf[256];
    while (!serializer_.done()) {
      const auto part = serializer_.read(buf, sizeof buf);
      out_.append(part.data(), part.size());
    }
  }

  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
  boost::json::serializer serializer_;
};

}  // namespace slap::slapd
