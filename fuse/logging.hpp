// Logging setup: stderr, with timestamps on a terminal; under systemd (JOURNAL_STREAM set) no
// timestamps and a syslog priority prefix ("<6>") that the journal turns into the entry's level.
#pragma once

namespace pbs::fs {

/// Level from `debug` (-d), else $PBS_LOCKFS_LOG (trace, debug, info, warn, err), else info.
void setup_logging(bool debug);

}  // namespace pbs::fs
