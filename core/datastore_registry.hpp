// DatastoreRegistry: the datastores being served, from datastore.cfg (re-read whenever the file
// changes, so that PBS's `datastore create`/`remove` show up without a remount) or from a fixed
// list given on the command line.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datastore.hpp"
#include "datastore_config.hpp"
#include "mutex.hpp"

namespace pbs {

class DatastoreRegistry {
 public:
  /// Serves what `config_path` lists, re-reading it when its inode, size or mtime change.
  static std::unique_ptr<DatastoreRegistry> from_config(std::string config_path);
  /// Serves exactly `stores`.
  static std::unique_ptr<DatastoreRegistry> from_list(std::vector<DatastoreConfigEntry> stores);

  /// The datastores now (thread-safe; cheap when nothing changed: one stat()).
  std::shared_ptr<const std::vector<Datastore>> current();
  std::optional<Datastore> find(const std::string& name);
  /// Re-reads the config now even if stat() sees no change (an admin's explicit reload, e.g.
  /// after an edit that kept size and mtime). A fixed list has nothing to re-read.
  void reload();

 private:
  DatastoreRegistry() = default;
  std::shared_ptr<const std::vector<Datastore>> refresh_locked() PBS_REQUIRES(mutex_);
  void reload_locked(const struct stat& st) PBS_REQUIRES(mutex_);

  Mutex mutex_;
  std::string config_path_;  ///< empty: fixed list
  struct stat seen_ PBS_GUARDED_BY(mutex_) {};
  bool loaded_ PBS_GUARDED_BY(mutex_) = false;
  std::shared_ptr<const std::vector<Datastore>> stores_ PBS_GUARDED_BY(mutex_) =
      std::make_shared<const std::vector<Datastore>>();
};

}  // namespace pbs
