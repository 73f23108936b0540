// The section-config parser; see datastore_config.hpp.
#include "datastore_config.hpp"

#include <fstream>
#include <sstream>

#include "names.hpp"

namespace pbs {
namespace {

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r";
  auto begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  auto end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

struct Section {
  bool is_datastore = false;
  bool valid = false;
  std::size_t line = 0;
  DatastoreConfigEntry entry;
};

void finish(Section& section, DatastoreConfig& config) {
  if (!section.is_datastore || !section.valid) return;
  std::string where =
      "line " + std::to_string(section.line) + ": datastore '" + section.entry.name + "'";
  if (section.entry.path.empty() || section.entry.path.front() != '/') {
    config.warnings.push_back(where + " has no absolute path; skipped");
    return;
  }
  for (const auto& existing : config.stores) {
    if (existing.name == section.entry.name) {
      config.warnings.push_back(where + " is defined twice; the first one is used");
      return;
    }
  }
  config.stores.push_back(section.entry);
}

}  // namespace

DatastoreConfig parse_datastore_config(std::string_view text) {
  DatastoreConfig config;
  Section section;
  std::size_t number = 0;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    std::string_view raw = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    ++number;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    bool indented = raw.front() == ' ' || raw.front() == '\t';
    if (!indented) {
      finish(section, config);
      section = Section{};
      section.line = number;
      auto colon = line.find(':');
      if (colon == std::string_view::npos) {
        config.warnings.push_back("line " + std::to_string(number) + ": not a section header");
        continue;
      }
      section.is_datastore = trim(line.substr(0, colon)) == "datastore";
      section.entry.name = std::string(trim(line.substr(colon + 1)));
      if (section.is_datastore) {
        auto ok = check_store_name(section.entry.name);
        section.valid = ok.ok();
        if (!ok)
          config.warnings.push_back("line " + std::to_string(number) + ": " + ok.error().message);
      }
      continue;
    }
    if (section.line == 0) {
      config.warnings.push_back("line " + std::to_string(number) + ": property outside a section");
      continue;
    }
    auto space = line.find_first_of(" \t");
    std::string_view key = line.substr(0, space);
    std::string_view value = space == std::string_view::npos ? "" : trim(line.substr(space));
    if (key == "path") section.entry.path = std::string(value);
  }
  finish(section, config);
  return config;
}

Result<DatastoreConfig> read_datastore_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return sys_error("read datastore config", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_datastore_config(text.str());
}

Result<DatastoreConfigEntry> parse_store_option(std::string_view text) {
  auto separator = text.find_first_of(":=");
  if (separator == std::string_view::npos) {
    return Error{EINVAL, "store '" + std::string(text) + "': expected NAME:PATH"};
  }
  DatastoreConfigEntry entry{std::string(text.substr(0, separator)),
                             std::string(text.substr(separator + 1))};
  if (auto ok = check_store_name(entry.name); !ok) return ok.error();
  if (entry.path.empty() || entry.path.front() != '/') {
    return Error{EINVAL, "store '" + entry.name + "': path must be absolute"};
  }
  return entry;
}

}  // namespace pbs
