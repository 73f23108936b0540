// libFuzzer target over PBS name parsing, escaping and lock-path construction, differential
// against a deliberately simple second implementation written here from the spec (regular
// expressions, timegm(), byte loops): both must accept the same names and build the same paths.
//
// Input: up to four lines: store, namespace (a/b/c), object (TYPE/ID[/TIME]), and a flag line
// whose first byte's low bit asks for the manifest lock. The whole input is also escaped.
#include <openssl/sha.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "escape.hpp"
#include "lock_object.hpp"

namespace {

[[noreturn]] void disagree(const std::string& what, const std::string& ours,
                           const std::string& reference) {
  std::fprintf(stderr, "DISAGREEMENT in %s\n  library:   %s\n  reference: %s\n", what.c_str(),
               ours.c_str(), reference.c_str());
  std::abort();
}

// Section 3 of the spec, one byte at a time.
std::string reference_escape(std::string_view in) {
  while (!in.empty() && in.front() == '/')
    in.remove_prefix(1);
  if (in.empty()) return "-";
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.';
    if (c == '/') {
      out += '-';
    } else if (plain && !(c == '.' && i == 0)) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

bool safe_id(const std::string& s) {
  static const std::regex id("[A-Za-z0-9_][A-Za-z0-9._-]*");
  return std::regex_match(s, id);
}

bool valid_time(const std::string& s) {
  static const std::regex shape(
      "([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z");
  std::smatch m;
  if (!std::regex_match(s, m, shape)) return false;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  std::tm copy = tm;
  std::time_t t = timegm(&copy);  // normalises impossible dates; a valid one survives unchanged
  std::tm back{};
  gmtime_r(&t, &back);
  return back.tm_year == tm.tm_year && back.tm_mon == tm.tm_mon && back.tm_mday == tm.tm_mday &&
         back.tm_hour == tm.tm_hour && back.tm_min == tm.tm_min && back.tm_sec == tm.tm_sec;
}

std::vector<std::string> split(const std::string& s, char by) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  for (;;) {
    auto at = s.find(by, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

// The lock file below the lock root, or "" when PBS would refuse the names.
std::string reference_lock_path(const std::string& store, std::string ns, const std::string& object,
                                bool manifest) {
  if (store.size() < 3 || store.size() > 32 || !safe_id(store)) return "";
  // PBS's BackupNamespace::new: split at '/', every component a name (no empty ones).
  std::vector<std::string> components = ns.empty() ? std::vector<std::string>{} : split(ns, '/');
  if (components.size() > 7 || ns.size() > 256) return "";
  for (const auto& c : components) {
    if (c.size() > 255 || !safe_id(c)) return "";
  }
  std::vector<std::string> parts = split(object, '/');
  if (parts.size() < 2) return "";
  std::string id = parts[1], time;
  if (parts.size() >= 3) {  // everything after the second slash is the time
    time = object.substr(parts[0].size() + parts[1].size() + 2);
    if (!valid_time(time)) return "";
  }
  if (parts[0] != "vm" && parts[0] != "ct" && parts[0] != "host") return "";
  if (!safe_id(id) || (manifest && time.empty())) return "";
  std::string rpath = parts[0] + "/" + id + (time.empty() ? "" : "/" + time);
  if (manifest) rpath += "/.index.json.lck";
  std::string name = reference_escape(rpath);
  if (name.size() >= 255) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(rpath.data()), rpath.size(), digest);
    std::string hex;
    for (unsigned char b : digest) {
      char two[3];
      std::snprintf(two, sizeof two, "%02x", b);
      hex += two;
    }
    name = "hashed/" + name.substr(0, 80) + "..." + name.substr(name.size() - 80) + "-" + hex;
  }
  std::string ns_dir;
  for (std::size_t i = 0; i < components.size(); ++i)
    ns_dir += (i ? ":" : "") + components[i];
  return store + "/" + (ns_dir.empty() ? "" : ns_dir + "/") + name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  std::string ours = pbs::escape_lock_name(input), reference = reference_escape(input);
  if (ours != reference) disagree("escape", ours, reference);
  if (!input.empty() && input.front() != '/') {
    auto back = pbs::unescape_lock_name(ours);
    if (!back || *back != input) disagree("unescape(escape(x))", back.value_or("<none>"), input);
  }

  std::vector<std::string> lines = split(input, '\n');
  lines.resize(4);
  const bool manifest = !lines[3].empty() && (lines[3][0] & 1);
  std::string path;
  if (auto ns = pbs::Namespace::parse(lines[1]); ns) {
    if (auto object = pbs::LockObject::parse(lines[0], *ns, lines[2], manifest); object) {
      path = object->lock_path().relative();
    }
  }
  std::string expected = reference_lock_path(lines[0], lines[1], lines[2], manifest);
  if (path != expected)
    disagree("lock path of " + lines[0] + " | " + lines[1] + " | " + lines[2],
             path.empty() ? "<refused>" : path, expected.empty() ? "<refused>" : expected);
  return 0;
}
