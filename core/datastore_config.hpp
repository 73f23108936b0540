// Reading /etc/proxmox-backup/datastore.cfg, PBS's section-config file:
//
//   datastore: store1
//   	path /mnt/datastore/store1
//   	comment anything
//
// Comments, blank lines, other section types and unknown keys are tolerated and skipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "result.hpp"

namespace pbs {

inline constexpr const char* kDefaultDatastoreConfig = "/etc/proxmox-backup/datastore.cfg";

struct DatastoreConfigEntry {
  std::string name;
  std::string path;
  bool operator==(const DatastoreConfigEntry&) const = default;
};

struct DatastoreConfig {
  std::vector<DatastoreConfigEntry> stores;
  /// One line per skipped problem ("line 7: datastore 'x!' has an invalid name"), for logging.
  std::vector<std::string> warnings;
};

/// Parses the text of a datastore.cfg. Never fails: what cannot be used is skipped with a warning.
DatastoreConfig parse_datastore_config(std::string_view text);

/// Reads and parses the file at `path`.
Result<DatastoreConfig> read_datastore_config(const std::string& path);

/// Parses a `NAME:PATH` or `NAME=PATH` command-line store definition.
Result<DatastoreConfigEntry> parse_store_option(std::string_view text);

}  // namespace pbs
