// Telling holders that somebody wants their lock; see contention_notifier.hpp.
#include "contention_notifier.hpp"

#include <poll.h>

#include "connection_io.hpp"

namespace pbs::fs {

ContentionNotifier::~ContentionNotifier() {
  MutexLock lock(mutex_);
  for (auto& [handle, entry] : entries_) {
    if (entry.ph != nullptr) fuse_pollhandle_destroy(entry.ph);
  }
}

unsigned ContentionNotifier::poll(const OpenHandle& handle, fuse_pollhandle* ph, std::uint64_t kh) {
  MutexLock lock(mutex_);
  unsigned revents = POLLIN | POLLOUT;  // a node can always be read (its status) and written
  if (!handle.holds()) {
    if (ph != nullptr) fuse_pollhandle_destroy(ph);
    return revents;
  }
  Entry& entry = entries_[&handle];
  if (ph != nullptr) {
    if (entry.ph != nullptr) fuse_pollhandle_destroy(entry.ph);
    entry.ph = ph;
    entry.kh = kh;
  }
  if (entry.pending) revents |= POLLPRI;
  return revents;
}

std::string ContentionNotifier::read_by(const OpenHandle& handle) {
  MutexLock lock(mutex_);
  auto found = entries_.find(&handle);
  if (found == entries_.end() || found->second.why.empty()) return {};
  found->second.pending = false;
  return "wanted: " + found->second.why + "\n";
}

void ContentionNotifier::wanted(const LockObject& object, const std::string& why) {
  const std::string lock_file = object.lock_path().relative();
  const std::string when = iso_time_ms(std::chrono::system_clock::now());
  auto handles = locks_.handles(lock_file);
  MutexLock lock(mutex_);
  for (const auto& h : handles) {
    if (!h->holds()) continue;
    Entry& entry = entries_[h.get()];
    entry.pending = true;
    entry.why = why + " at " + when;
    if (entry.ph != nullptr) {
      // One wake-up per poll: the kernel polls again and gets a new handle.
      fuse_lowlevel_notify_poll(entry.ph);
      fuse_pollhandle_destroy(entry.ph);
      entry.ph = nullptr;
    }
  }
}

void ContentionNotifier::let_go(const OpenHandle& handle) {
  MutexLock lock(mutex_);
  auto found = entries_.find(&handle);
  if (found == entries_.end()) return;
  if (found->second.ph != nullptr) {
    // A poll waiting on a handle that no longer holds: woken (it now reports no POLLPRI).
    fuse_lowlevel_notify_poll(found->second.ph);
    fuse_pollhandle_destroy(found->second.ph);
  }
  entries_.erase(found);
}

std::vector<ContentionNotifier::Saved> ContentionNotifier::save() {
  std::vector<Saved> saved;
  MutexLock lock(mutex_);
  for (const auto& [handle, entry] : entries_) {
    if (entry.ph == nullptr && !entry.pending && entry.why.empty()) continue;
    saved.push_back({handle->fh, entry.ph != nullptr ? entry.kh : 0, entry.pending, entry.why});
  }
  return saved;
}

void ContentionNotifier::restore(
    const std::vector<Saved>& saved,
    const std::function<std::shared_ptr<OpenHandle>(std::uint64_t)>& handles) {
  std::vector<std::shared_ptr<OpenHandle>> found;  // looked up before mutex_ (a leaf)
  for (const auto& s : saved)
    found.push_back(handles(s.fh));
  MutexLock lock(mutex_);
  for (std::size_t i = 0; i < saved.size(); ++i) {
    const Saved& s = saved[i];
    if (found[i]) entries_[found[i].get()] = {nullptr, 0, s.pending, s.why};
    // The earlier image's poll handle died with it: woken, the kernel polls this image, which
    // keeps the new one (a wake-up without news is allowed: poll(2) looks again).
    if (s.kh != 0) ConnectionIo::notify_poll(s.kh);
  }
}

}  // namespace pbs::fs
