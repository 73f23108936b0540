// Lock events as JSON lines and log lines; see lock_event.hpp.
#include "lock_event.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

#include "text_escape.hpp"

namespace pbs {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTypeNames[] = {"hold", "wait", "refused"};

// `vm/100` or `vm/100/<time>`: the object's group or snapshot, its kind said apart.
std::string object_text(const LockObject& object) {
  return object.kind == LockKind::kGroup ? object.group.rpath() : object.snapshot().rpath();
}

std::optional<LockKind> kind_from(std::string_view text) {
  for (auto kind : {LockKind::kGroup, LockKind::kSnapshot, LockKind::kManifest}) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(LockEvent::Type type) {
  return kTypeNames[static_cast<int>(type)];
}

std::optional<LockEvent::Type> event_type_from(std::string_view text) {
  for (int i = 0; i < 3; ++i) {
    if (kTypeNames[i] == text) return static_cast<LockEvent::Type>(i);
  }
  return std::nullopt;
}

std::string iso_time_ms(LockEvent::Time when) {
  auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch());
  std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
  long millis = static_cast<long>(since_epoch.count() % 1000);
  if (millis < 0) millis += 1000, --seconds;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[40];
  std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buffer + n, sizeof buffer - n, ".%03ldZ", millis);
  return buffer;
}

std::optional<LockEvent::Time> parse_event_time(std::string_view text) {
  std::string copy(text);
  std::tm tm{};
  const char* rest = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  long millis = 0;
  if (*rest == '.') {
    char* end = nullptr;
    millis = std::strtol(rest + 1, &end, 10);
    if (end != rest + 4 || millis < 0) return std::nullopt;
    rest = end;
  }
  if (std::string_view(rest) != "Z") return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(millis);
}

std::string event_json(const LockEvent& e) {
  Json j;
  j["id"] = e.id;
  j["type"] = to_string(e.type);
  j["store"] = e.object.store;
  j["ns"] = e.object.ns.join('/');
  j["kind"] = to_string(e.object.kind);
  j["object"] = object_text(e.object);
  j["mode"] = e.mode ? Json(to_string(*e.mode)) : Json(nullptr);
  j["via"] = e.via_mount ? "mount" : "direct";
  j["pid"] = e.pid == 0 ? Json(nullptr) : Json(e.pid);
  j["uid"] = e.uid == static_cast<uid_t>(-1) ? Json(nullptr) : Json(e.uid);
  j["command"] = e.command;
  j["task"] = e.task;
  j["reason"] = e.reason;
  j["start"] = iso_time_ms(e.start);
  j["end"] = e.end ? Json(iso_time_ms(*e.end)) : Json(nullptr);
  j["outcome"] = e.outcome;
  j["note"] = e.note;
  // Invalid UTF-8 (a command name, a reason) is replaced, never an exception.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<LockEvent> parse_event_json(std::string_view line) {
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    LockEvent e;
    e.id = j.at("id").get<std::uint64_t>();
    auto type = event_type_from(j.at("type").get<std::string>());
    auto kind = kind_from(j.at("kind").get<std::string>());
    auto ns = Namespace::parse(j.at("ns").get<std::string>());
    if (!type || !kind || !ns) return std::nullopt;
    e.type = *type;
    auto object =
        LockObject::parse(j.at("store").get<std::string>(), std::move(ns.value()),
                          j.at("object").get<std::string>(), *kind == LockKind::kManifest);
    if (!object || object->kind != *kind) return std::nullopt;
    e.object = std::move(object.value());
    if (!j.at("mode").is_null()) {
      e.mode = j["mode"] == "exclusive" ? LockMode::kExclusive : LockMode::kShared;
    }
    e.via_mount = j.at("via") == "mount";
    if (!j.at("pid").is_null()) e.pid = j["pid"].get<pid_t>();
    if (!j.at("uid").is_null()) e.uid = j["uid"].get<uid_t>();
    e.command = j.at("command").get<std::string>();
    e.task = j.at("task").get<std::string>();
    e.reason = j.at("reason").get<std::string>();
    auto start = parse_event_time(j.at("start").get<std::string>());
    if (!start) return std::nullopt;
    e.start = *start;
    if (!j.at("end").is_null()) {
      e.end = parse_event_time(j["end"].get<std::string>());
      if (!e.end) return std::nullopt;
    }
    e.outcome = j.at("outcome").get<std::string>();
    e.note = j.value("note", "");
    return e;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

std::string describe_event(const LockEvent& e) {
  std::string out = std::string(to_string(e.type)) + " " + e.object.describe() +
                    " kind=" + std::string(to_string(e.object.kind)) +
                    " mode=" + (e.mode ? std::string(to_string(*e.mode)) : "?") +
                    " via=" + (e.via_mount ? "mount" : "direct") +
                    " pid=" + (e.pid == 0 ? std::string("?") : std::to_string(e.pid));
  if (e.uid != static_cast<uid_t>(-1)) out += " uid=" + std::to_string(e.uid);
  if (!e.command.empty()) out += " command=" + quote_text(e.command);
  if (!e.task.empty()) out += " task=" + quote_text(e.task);
  if (!e.reason.empty()) out += " reason=" + quote_text(e.reason);
  out += " start=" + iso_time_ms(e.start);
  if (e.end) out += " end=" + iso_time_ms(*e.end);
  if (!e.outcome.empty()) out += " outcome=" + quote_text(e.outcome);
  if (!e.note.empty()) out += " note=" + quote_text(e.note);
  return out;
}

}  // namespace pbs
