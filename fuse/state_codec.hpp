// StateWriter / StateReader: the encoding of the state one program image of the daemon hands to
// the next (program_state.hpp): numbers and byte strings in a fixed order, each read back with
// its name, so that a malformed or truncated state is refused with the field it broke at.
//
//   StateWriter out;  out.number(7);  out.text("a\nb");
//   StateReader in(out.data());  auto n = in.number("count");  auto t = in.text("name");
//   if (!in.ok()) ... in.error() ...
//
// A number is its decimal digits and a newline; a text is its length, a newline, its bytes and
// a newline (any bytes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pbs::fs {

class StateWriter {
 public:
  void number(std::uint64_t value);
  void text(std::string_view value);
  const std::string& data() const { return data_; }

 private:
  std::string data_;
};

class StateReader {
 public:
  explicit StateReader(std::string_view data) : data_(data) {}
  /// The next number; 0 after the first error (which ok() and error() tell).
  std::uint64_t number(const char* what);
  /// A count of items that follow, each at least one byte: refused when larger than what is
  /// left, so that a corrupt count cannot make the reader allocate without bound.
  std::uint64_t count(const char* what);
  std::string text(const char* what);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool at_end() const { return position_ == data_.size(); }
  /// Records a failure of the caller's own checks (the first one counts).
  void fail(const std::string& message);

 private:
  std::string_view data_;
  std::size_t position_ = 0;
  std::string error_;
};

}  // namespace pbs::fs
