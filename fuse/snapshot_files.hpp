// SnapshotFiles: the texts of the open events and metrics files, taken at open, by file handle.
// The handle is an id, never a pointer: the kernel may send RELEASE while a READ of the same
// handle is still being answered (the reader was killed), so a read holds its text by a
// shared_ptr and a release only drops the registry's reference.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mutex.hpp"

namespace pbs::fs {

class SnapshotFiles {
 public:
  /// Keeps `text` and returns its file handle (never 0: that is the status file's).
  std::uint64_t add(std::string text);
  /// The text of handle `fh`, or nullptr once released.
  std::shared_ptr<const std::string> get(std::uint64_t fh) const;
  void release(std::uint64_t fh);
  std::size_t open() const;

  /// The open texts by handle and the next handle, for the next program image.
  struct Saved {
    std::vector<std::pair<std::uint64_t, std::string>> texts;
    std::uint64_t next = 1;
  };
  Saved save() const;
  /// Takes over what save() returned in the previous image.
  void restore(Saved saved);

 private:
  mutable Mutex mutex_;
  std::uint64_t next_ PBS_GUARDED_BY(mutex_) = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<const std::string>> texts_
      PBS_GUARDED_BY(mutex_);
};

}  // namespace pbs::fs
