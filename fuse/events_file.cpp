// The events file at the mount root (`.pbs-lockfs-events`): the history of lock events, one
// JSON object per line, oldest first, as `pbs-lockctl history` reads it.
#include "filesystem.hpp"

namespace pbs::fs {

std::string events_text(Filesystem& fs) {
  // The newest events complete (commands looked up, log lines written) before they are shown.
  fs.events->publish();
  std::string text;
  for (const auto& event : fs.events->history().events()) {
    text += event_json(event);
    text += '\n';
  }
  return text;
}

}  // namespace pbs::fs
