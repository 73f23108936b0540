// Showing text that came from users (reasons, command names, task texts) without letting it
// forge lines or fields, reach a terminal as escape sequences, or break a JSON document.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pbs {

/// `text` as printable, valid UTF-8: `\\`, `\"`, `\n`, `\t` and `\xNN` for every other control
/// character (C0, DEL, C1) and for every byte that is not part of valid UTF-8. Printable
/// characters, including non-ASCII letters, stay as they are.
std::string escape_text(std::string_view text);
/// Like escape_text, but `\` and `"` stay as they are: for a value shown alone on its line
/// and never parsed back (a PBS task's UPID holds backslashes an admin copies as they are).
std::string escape_controls(std::string_view text);
/// `"` + escape_text(text) + `"`: one field that nothing inside can end early.
std::string quote_text(std::string_view text);
/// Reads a field written by quote_text at the start of `in` and removes it from `in`; nothing
/// when `in` does not start with a well-formed one.
std::optional<std::string> unquote_text(std::string_view& in);

/// A JSON string literal of `text`: valid JSON (RFC 8259) and valid UTF-8 whatever `text`
/// holds. Bytes that are not UTF-8 become U+FFFD; control characters are escaped (`\u001b`).
std::string json_string(std::string_view text);

}  // namespace pbs
