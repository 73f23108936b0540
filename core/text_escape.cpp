// Escaping user text for display and JSON; see text_escape.hpp.
#include "text_escape.hpp"

#include <cstdint>
#include <cstdio>

namespace pbs {
namespace {

// The length of the valid UTF-8 sequence at `at` (1 for ASCII), or 0 when the bytes there are
// not one: truncated, overlong, a surrogate, or beyond U+10FFFF. The code point in `point`.
std::size_t utf8_sequence(std::string_view s, std::size_t at, std::uint32_t& point) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char lead = byte(at);
  std::size_t length;
  std::uint32_t min;
  if (lead < 0x80) {
    point = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    length = 2, min = 0x80, point = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, min = 0x800, point = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, point = lead & 0x07;
  } else {
    return 0;
  }
  if (at + length > s.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xc0) != 0x80) return 0;
    point = (point << 6) | (byte(at + i) & 0x3f);
  }
  if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return 0;
  return length;
}

bool is_control(std::uint32_t point) {
  return point < 0x20 || point == 0x7f || (point >= 0x80 && point <= 0x9f);
}

void append_hex(std::string& out, std::string_view bytes) {
  for (unsigned char c : bytes) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
    out += buffer;
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string escape(std::string_view text, bool quotes_and_backslashes) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    std::uint32_t point = 0;
    std::size_t length = utf8_sequence(text, at, point);
    if (length == 0) {
      append_hex(out, text.substr(at, 1));
      at += 1;
      continue;
    }
    if (quotes_and_backslashes && (point == '\\' || point == '"')) {
      out += '\\';
      out += static_cast<char>(point);
    } else if (point == '\n') {
      out += "\\n";
    } else if (point == '\t') {
      out += "\\t";
    } else if (is_control(point)) {
      append_hex(out, text.substr(at, length));
    } else {
      out += text.substr(at, length);
    }
    at += length;
  }
  return out;
}

}  // namespace

std::string escape_text(std::string_view text) {
  return escape(text, true);
}

std::string escape_controls(std::string_view text) {
  return escape(text, false);
}

std::string quote_text(std::string_view text) {
  return "\"" + escape_text(text) + "\"";
}

std::optional<std::string> unquote_text(std::string_view& in) {
  if (in.empty() || in.front() != '"') return std::nullopt;
  std::string out;
  for (std::size_t i = 1; i < in.size(); ++i) {
    char c = in[i];
    if (c == '"') {
      in.remove_prefix(i + 1);
      return out;
    }
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= in.size()) return std::nullopt;
    switch (in[i]) {
      case '\\':
      case '"':
        out += in[i];
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'x': {
        if (i + 2 >= in.size()) return std::nullopt;
        int high = hex_value(in[i + 1]), low = hex_value(in[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out += static_cast<char>(high * 16 + low);
        i += 2;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;  // no closing quote
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (std::size_t at = 0; at < text.size();) {
    std::uint32_t point = 0;
    std::size_t length = utf8_sequence(text, at, point);
    if (length == 0) {
      out += "\\ufffd";
      at += 1;
      continue;
    }
    if (point == '"' || point == '\\') {
      out += '\\';
      out += static_cast<char>(point);
    } else if (is_control(point)) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(point));
      out += buffer;
    } else {
      out += text.substr(at, length);
    }
    at += length;
  }
  return out + "\"";
}

}  // namespace pbs
