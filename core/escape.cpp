// Byte-exact reimplementation of PBS's escape rule; see escape.hpp.
#include "escape.hpp"

namespace pbs {
namespace {

bool is_kept(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string escape_lock_name(std::string_view rpath) {
  static constexpr char kHex[] = "0123456789abcdef";
  while (!rpath.empty() && rpath.front() == '/')
    rpath.remove_prefix(1);
  if (rpath.empty()) return "-";
  std::string out;
  out.reserve(rpath.size() + 16);
  for (std::size_t i = 0; i < rpath.size(); ++i) {
    char c = rpath[i];
    if (c == '/') {
      out += '-';
    } else if (is_kept(c) && !(c == '.' && i == 0)) {
      out += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

std::optional<std::string> unescape_lock_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '-') {
      out += '/';
    } else if (c == '\\') {
      if (i + 3 >= name.size() || name[i + 1] != 'x') return std::nullopt;
      int high = hex_value(name[i + 2]), low = hex_value(name[i + 3]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high << 4 | low);
      i += 3;
    } else if (is_kept(c) && !(c == '.' && i == 0)) {
      out += c;
    } else {
      return std::nullopt;
    }
  }
  // Only canonical escapes: re-escaping must give back the same name.
  if (escape_lock_name(out) != name) return std::nullopt;
  return out;
}

}  // namespace pbs
