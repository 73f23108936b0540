// The datastore registry; see datastore_registry.hpp.
#include "datastore_registry.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

namespace pbs {
namespace {

std::shared_ptr<const std::vector<Datastore>> to_stores(
    const std::vector<DatastoreConfigEntry>& entries) {
  auto stores = std::make_shared<std::vector<Datastore>>();
  for (const auto& e : entries)
    stores->emplace_back(e.name, e.path);
  return stores;
}

bool same_file_state(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

std::unique_ptr<DatastoreRegistry> DatastoreRegistry::from_config(std::string config_path) {
  std::unique_ptr<DatastoreRegistry> registry(new DatastoreRegistry);
  registry->config_path_ = std::move(config_path);
  registry->current();
  return registry;
}

std::unique_ptr<DatastoreRegistry> DatastoreRegistry::from_list(
    std::vector<DatastoreConfigEntry> stores) {
  std::unique_ptr<DatastoreRegistry> registry(new DatastoreRegistry);
  MutexLock lock(registry->mutex_);  // nobody else has it yet; for the analysis
  registry->stores_ = to_stores(stores);
  registry->loaded_ = true;
  return registry;
}

std::shared_ptr<const std::vector<Datastore>> DatastoreRegistry::current() {
  MutexLock lock(mutex_);
  return refresh_locked();
}

std::shared_ptr<const std::vector<Datastore>> DatastoreRegistry::refresh_locked() {
  if (config_path_.empty()) return stores_;
  struct stat st {};
  if (stat(config_path_.c_str(), &st) != 0) {
    if (!loaded_ || seen_.st_ino != 0) {
      spdlog::warn("datastore config {}: {}; serving no datastores", config_path_,
                   error_text(errno));
      stores_ = std::make_shared<const std::vector<Datastore>>();
      seen_ = {};
      loaded_ = true;
    }
    return stores_;
  }
  if (!loaded_ || !same_file_state(st, seen_)) reload_locked(st);
  return stores_;
}

void DatastoreRegistry::reload_locked(const struct stat& st) {
  auto config = read_datastore_config(config_path_);
  seen_ = st;
  loaded_ = true;
  if (!config) {
    spdlog::error("datastore config: {}", config.error().message);
    return;  // keep serving what we had
  }
  for (const auto& warning : config->warnings)
    spdlog::warn("{}: {}", config_path_, warning);
  stores_ = to_stores(config->stores);
  spdlog::info("datastore config {}: {} datastore(s)", config_path_, stores_->size());
}

void DatastoreRegistry::reload() {
  MutexLock lock(mutex_);
  if (config_path_.empty()) {
    spdlog::info("reload: serving a fixed list of datastores, nothing to re-read");
    return;
  }
  spdlog::info("reload: re-reading {}", config_path_);
  loaded_ = false;
  seen_ = {};
  refresh_locked();
}

std::optional<Datastore> DatastoreRegistry::find(const std::string& name) {
  auto stores = current();
  for (const auto& store : *stores) {
    if (store.name() == name) return store;
  }
  return std::nullopt;
}

}  // namespace pbs
