// Logging setup: stderr, with timestamps on a terminal; under systemd (JOURNAL_STREAM set) no
// timestamps and a syslog priority prefix ("<6>") that the journal turns into the entry's level.
// In the background (no -f: the fstab path, where stderr becomes /dev/null) to syslog, which the
// journal collects. libfuse's own messages go the same way.
#pragma once

#include "result.hpp"

namespace pbs::fs {

/// Level from `debug` (-d), else $PBS_LOCKFS_LOG (trace, debug, info, warn, err), else info.
/// EINVAL for a $PBS_LOCKFS_LOG that is no level (the caller exits with code 2).
Result<void> setup_logging(bool debug);
/// From now on to syslog (facility daemon, tag pbs-lockfs, with the pid), unless stderr is the
/// journal: called when going to the background, before stderr is closed.
void log_to_syslog();

}  // namespace pbs::fs
