// The state encoding; see state_codec.hpp.
#include "state_codec.hpp"

#include <charconv>

namespace pbs::fs {

void StateWriter::number(std::uint64_t value) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  *end++ = '\n';
  data_.append(digits, end);
}

void StateWriter::text(std::string_view value) {
  number(value.size());
  data_ += value;
  data_ += '\n';
}

void StateReader::fail(const std::string& message) {
  if (error_.empty()) error_ = message;
}

std::uint64_t StateReader::number(const char* what) {
  if (!ok()) return 0;
  const std::size_t end = data_.find('\n', position_);
  std::uint64_t value = 0;
  if (end == std::string_view::npos || end == position_) {
    fail(std::string("state ends before ") + what);
    return 0;
  }
  auto [last, error] = std::from_chars(data_.data() + position_, data_.data() + end, value);
  if (error != std::errc() || last != data_.data() + end) {
    fail(std::string("state: ") + what + " is not a number");
    return 0;
  }
  position_ = end + 1;
  return value;
}

std::uint64_t StateReader::count(const char* what) {
  const std::uint64_t value = number(what);
  if (ok() && value > data_.size() - position_) {
    fail(std::string("state: ") + what + " " + std::to_string(value) + " is more than it holds");
    return 0;
  }
  return value;
}

std::string StateReader::text(const char* what) {
  const std::uint64_t size = number(what);
  if (!ok()) return {};
  if (size >= data_.size() - position_ || data_[position_ + size] != '\n') {
    fail(std::string("state: ") + what + " is cut short");
    return {};
  }
  std::string value(data_.substr(position_, size));
  position_ += size + 1;
  return value;
}

}  // namespace pbs::fs
