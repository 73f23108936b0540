// PBS's naming rules, implemented as plain byte checks (no regex engine needed for these).
#include "names.hpp"

namespace pbs {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum_or_underscore(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
}

Error invalid(std::string what, std::string_view text, std::string why) {
  return Error{EINVAL, "invalid " + what + " '" + std::string(text) + "': " + why};
}

int two_digits(std::string_view text, std::size_t at) {
  return (text[at] - '0') * 10 + (text[at + 1] - '0');
}

int days_in_month(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

std::string_view to_string(BackupType type) {
  switch (type) {
    case BackupType::kVm:
      return "vm";
    case BackupType::kCt:
      return "ct";
    case BackupType::kHost:
      return "host";
  }
  return "?";
}

Result<BackupType> parse_backup_type(std::string_view text) {
  for (BackupType type : kAllBackupTypes) {
    if (text == to_string(type)) return type;
  }
  return invalid("backup type", text, "expected vm, ct or host");
}

bool is_safe_id(std::string_view text) {
  if (text.empty() || !is_alnum_or_underscore(text[0])) return false;
  for (char c : text.substr(1)) {
    if (!is_alnum_or_underscore(c) && c != '.' && c != '-') return false;
  }
  return true;
}

Result<void> check_store_name(std::string_view name) {
  if (name.size() < kMinStoreNameLength || name.size() > kMaxStoreNameLength) {
    return invalid("datastore name", name, "must be 3 to 32 bytes long");
  }
  if (!is_safe_id(name))
    return invalid("datastore name", name, "must match [A-Za-z0-9_][A-Za-z0-9._-]*");
  return {};
}

Result<void> check_namespace_component(std::string_view name) {
  if (name.size() > kMaxNamespaceComponentLength) {
    return invalid("namespace component", name, "longer than 255 bytes");
  }
  if (!is_safe_id(name)) {
    return invalid("namespace component", name, "must match [A-Za-z0-9_][A-Za-z0-9._-]*");
  }
  return {};
}

Result<void> check_group_id(std::string_view id) {
  if (!is_safe_id(id)) return invalid("backup id", id, "must match [A-Za-z0-9_][A-Za-z0-9._-]*");
  return {};
}

Result<void> check_snapshot_time(std::string_view time) {
  // YYYY-MM-DDTHH:MM:SSZ
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  bool shape_ok = time.size() == kShape.size();
  for (std::size_t i = 0; shape_ok && i < kShape.size(); ++i) {
    shape_ok = kShape[i] == 'd' ? is_digit(time[i]) : time[i] == kShape[i];
  }
  if (!shape_ok) return invalid("snapshot time", time, "expected YYYY-MM-DDTHH:MM:SSZ");
  int year = two_digits(time, 0) * 100 + two_digits(time, 2);
  int month = two_digits(time, 5), day = two_digits(time, 8);
  int hour = two_digits(time, 11), minute = two_digits(time, 14), second = two_digits(time, 17);
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return invalid("snapshot time", time, "no such date or time");
  }
  return {};
}

Result<Namespace> Namespace::parse(std::string_view text) {
  // As PBS's BackupNamespace::new: empty is the root, otherwise every `/`-separated component
  // must be a valid name, so `/a`, `a/`, `a//b` and `/` are refused (an empty component).
  Namespace ns;
  if (text.empty()) return ns;
  for (;;) {
    std::size_t slash = text.find('/');
    auto next = ns.child(text.substr(0, slash));
    if (!next) return next.error();
    ns = std::move(next.value());
    if (slash == std::string_view::npos) return ns;
    text.remove_prefix(slash + 1);
  }
}

Result<Namespace> Namespace::child(std::string_view component) const {
  if (auto ok = check_namespace_component(component); !ok) return ok.error();
  if (depth() + 1 > kMaxNamespaceDepth) {
    return invalid("namespace", join('/') + "/" + std::string(component), "deeper than 7 levels");
  }
  Namespace out = *this;
  out.components_.emplace_back(component);
  if (out.join('/').size() > kMaxNamespaceLength) {
    return invalid("namespace", out.join('/'), "longer than 256 bytes");
  }
  return out;
}

std::string Namespace::join(char separator) const {
  std::string out;
  for (const auto& c : components_) {
    if (!out.empty()) out += separator;
    out += c;
  }
  return out;
}

std::string Namespace::datastore_path() const {
  std::string out;
  for (const auto& c : components_) {
    if (!out.empty()) out += '/';
    out += "ns/" + c;
  }
  return out;
}

Result<BackupGroup> BackupGroup::parse(std::string_view text) {
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return invalid("backup group", text, "expected TYPE/ID, e.g. vm/100");
  }
  auto type = parse_backup_type(text.substr(0, slash));
  if (!type) return type.error();
  std::string_view id = text.substr(slash + 1);
  if (auto ok = check_group_id(id); !ok) return ok.error();
  return BackupGroup{*type, std::string(id)};
}

std::string BackupGroup::rpath() const {
  return std::string(to_string(type)) + "/" + id;
}

std::string BackupSnapshot::rpath() const {
  return group.rpath() + "/" + time;
}

}  // namespace pbs
