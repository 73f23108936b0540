// ContentionNotifier: tells a holder through the mount that somebody wants its lock, so that a
// long holder (a tape copy, an offsite sync) can give way to PBS's prune instead of making it
// fail. Somebody wants it when a request waits for it through the mount, an attempt through the
// mount is refused (EWOULDBLOCK), or the watcher sees a direct one refused or waiting.
//
// poll(2)/select(2) on a held node's descriptor then reports POLLPRI (FUSE_POLL: a poll already
// waiting is woken with fuse_lowlevel_notify_poll), until the holder reads its node, whose text
// says who wanted it and when. A holder nobody contends is never woken.
//
// Mutex: a leaf. notify_poll (a write to /dev/fuse, no callback into us) is sent under it, so a
// poll handle is never used after a newer poll replaced and destroyed it.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lock_event_recorder.hpp"
#include "mount_locks.hpp"
#include "mutex.hpp"

namespace pbs::fs {

class ContentionNotifier : public ContentionListener {
 public:
  explicit ContentionNotifier(const MountLocks& locks) : locks_(locks) {}
  ~ContentionNotifier() override;

  /// A holder's poll on `handle`: keeps `ph` (nullptr: the caller does not wait) to wake it,
  /// and returns POLLIN|POLLOUT, with POLLPRI while somebody wants the lock since its last read.
  /// `kh`: the kernel's id for `ph` (what a program switch hands over).
  unsigned poll(const OpenHandle& handle, fuse_pollhandle* ph, std::uint64_t kh = 0);
  /// A holder's contention state, as a program switch hands it over.
  struct Saved {
    std::uint64_t fh = 0;  ///< the handle's
    std::uint64_t kh = 0;  ///< of a poll waiting to be woken; 0: none
    bool pending = false;
    std::string why;
  };
  std::vector<Saved> save();
  /// Takes over what save() returned in the previous image (`handles` by fh): the contention
  /// states, and every poll that was waiting is woken (the kernel then polls this image).
  void restore(const std::vector<Saved>& saved,
               const std::function<std::shared_ptr<OpenHandle>(std::uint64_t)>& handles);
  /// The line a read of the node adds for this holder (empty when nobody wanted its lock), and
  /// the end of POLLPRI until somebody wants it again.
  std::string read_by(const OpenHandle& handle);

  // ContentionListener
  void wanted(const LockObject& object, const std::string& why) override;
  void let_go(const OpenHandle& handle) override;

 private:
  struct Entry {
    fuse_pollhandle* ph = nullptr;
    std::uint64_t kh = 0;  ///< the kernel's id for ph
    bool pending = false;  ///< wanted since the holder last read its node
    std::string why;       ///< the last contention, as the status text says it
  };
  const MountLocks& locks_;
  Mutex mutex_;
  std::unordered_map<const OpenHandle*, Entry> entries_ PBS_GUARDED_BY(mutex_);
};

}  // namespace pbs::fs
