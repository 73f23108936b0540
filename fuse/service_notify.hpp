// systemd's readiness protocol (sd_notify), spoken directly: one datagram to $NOTIFY_SOCKET.
#pragma once

#include <string>

namespace pbs::fs {

/// Sends `state` (e.g. "READY=1") to the service manager; does nothing outside systemd.
void notify_service_manager(const std::string& state);

}  // namespace pbs::fs
