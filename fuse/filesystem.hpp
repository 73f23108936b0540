// Filesystem: the mount model plus what the FUSE operations need besides (the session, the
// access policy, the lock manager that answers lock requests), reached from a request through
// fuse_req_userdata(). main.cpp builds it.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <memory>
#include <string>

#include "attributes.hpp"
#include "caller.hpp"
#include "contention_notifier.hpp"
#include "lock_event_recorder.hpp"
#include "lock_manager.hpp"
#include "mount_model.hpp"
#include "node_status_text.hpp"
#include "program_switch.hpp"
#include "request.hpp"
#include "resource_shortage.hpp"
#include "snapshot_files.hpp"

namespace pbs::fs {

class LockTreeMonitor;

struct Filesystem : MountModel {
  AccessPolicy access;
  ResourceShortage shortage;
  /// Takes, queues and releases the locks of open handles (MountModel::locks points to it).
  std::unique_ptr<LockManager> lock_manager;
  /// The history of lock events (holds, waits, refusals) and their log lines.
  std::unique_ptr<LockEventRecorder> events;
  /// Wakes holders' poll() when somebody wants their lock.
  std::unique_ptr<ContentionNotifier> contention;
  /// The open events and metrics files' texts.
  SnapshotFiles snapshots;
  /// The watcher of the lock root, while it runs (the status file's counters; an upgrade
  /// freezes it and hands its model over).
  LockTreeMonitor* monitor = nullptr;
  fuse_session* session = nullptr;
  /// The program serving, and its upgrades (status file).
  ProgramRecord program;

  static Filesystem& of(fuse_req_t req) {
    return *static_cast<Filesystem*>(fuse_req_userdata(req));
  }
  static Filesystem& of(const Request& req) { return of(req.get()); }
};

/// The FUSE low-level operations of pbs-lockfs.
fuse_lowlevel_ops filesystem_operations();

/// The text a read of an open node returns: the status file's counters, or a lock node's status.
std::string open_node_text(Filesystem& fs, const Node& node);
/// The events file's text: every event of the history, oldest first, one JSON object per line.
std::string events_text(Filesystem& fs);
/// The metrics file's text: LockMetrics in Prometheus's text format, with the daemon's own.
std::string metrics_text(Filesystem& fs);

}  // namespace pbs::fs
