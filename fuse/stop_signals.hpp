// StopSignals: SIGTERM, SIGINT and SIGHUP sent to the serving daemon end its FUSE session at
// once (the root monitor's polite stop is another matter: mount_monitor.hpp); SIGPIPE is
// ignored (a peer of the holders service that goes away must not end the daemon). The handler
// only records the signal and exits the session, which is async-signal-safe; the daemon logs it
// afterwards. One instance at a time, for the lifetime of the serving loop.
#pragma once

struct fuse_session;

namespace pbs::fs {

class StopSignals {
 public:
  explicit StopSignals(fuse_session* se);
  ~StopSignals();  ///< restores the default actions
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// The stop signal that came, or 0.
  static int received();
};

}  // namespace pbs::fs
