// Computing a node's lock state; see lock_state.hpp.
#include "lock_state.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "listing_lookups.hpp"
#include "lock_file.hpp"
#include "mount_model.hpp"
#include "pbs_tasks.hpp"

namespace pbs::fs {
namespace {
constexpr std::chrono::milliseconds kProcLocksMaxAge{5};
}

const char* NodeLockState::state() const {
  if (holders.empty()) return "free";
  return holders.front().mode == LockMode::kExclusive ? "exclusive" : "shared";
}

ProcLocksSnapshot::ReadStart ProcLocksSnapshot::ReadStart::now() {
  ReadStart start;
  start.steady = std::chrono::steady_clock::now();
  clock_gettime(CLOCK_REALTIME_COARSE, &start.coarse_real);
  return start;
}

bool ProcLocksSnapshot::ReadStart::may_predate(const struct stat& file) const {
  const struct timespec& changed = file.st_ctim;
  const bool changed_before =
      changed.tv_sec < coarse_real.tv_sec ||
      (changed.tv_sec == coarse_real.tv_sec && changed.tv_nsec < coarse_real.tv_nsec);
  return !changed_before;
}

namespace {

// Whether a process that `locks` names as holding the lock of `file` has exited since.
bool a_holder_is_gone(const std::vector<ProcLock>& locks, const struct stat& file) {
  for (const auto& l : locks) {
    if (l.device == file.st_dev && l.inode == file.st_ino && !l.waiting && kill(l.pid, 0) != 0 &&
        errno == ESRCH) {
      return true;
    }
  }
  return false;
}
}  // namespace

std::shared_ptr<const std::vector<ProcLock>> ProcLocksSnapshot::current(bool fresh) {
  return current(fresh, nullptr);
}

std::shared_ptr<const std::vector<ProcLock>> ProcLocksSnapshot::current_for(const struct stat& file,
                                                                            bool fresh) {
  return current(fresh, &file);
}

bool ProcLocksSnapshot::stale_for(const struct stat& file) const {
  return read_at_.may_predate(file) || a_holder_is_gone(*locks_, file);
}

std::shared_ptr<const std::vector<ProcLock>> ProcLocksSnapshot::current(bool fresh,
                                                                        const struct stat* file) {
  MutexLock lock(mutex_);
  auto start = ReadStart::now();
  if (fresh || start.steady - read_at_.steady > kProcLocksMaxAge || activity_since_read() ||
      (file != nullptr && stale_for(*file))) {
    // The generation before the read: activity during it makes the next caller read again.
    if (activity_ != nullptr) read_generation_ = activity_->load();
    if (auto locks = read_proc_locks()) {
      install(std::make_shared<const std::vector<ProcLock>>(std::move(locks.value())));
    }
    read_at_ = start;
  }
  return locks_;
}

void ProcLocksSnapshot::replace(std::shared_ptr<const std::vector<ProcLock>> locks,
                                std::uint64_t generation, const ReadStart& started) {
  MutexLock lock(mutex_);
  install(std::move(locks));
  read_at_ = started;
  read_generation_ = generation;
}

bool ProcLocksSnapshot::activity_since_read() const {
  return activity_ != nullptr && activity_->load() != read_generation_;
}

void ProcLocksSnapshot::install(std::shared_ptr<const std::vector<ProcLock>> locks) {
  locks_ = std::move(locks);
  others_devices_.clear();
  const pid_t self = getpid();
  for (const auto& l : *locks_) {
    if (l.pid != self && std::find(others_devices_.begin(), others_devices_.end(), l.device) ==
                             others_devices_.end()) {
      others_devices_.push_back(l.device);
    }
  }
}

bool ProcLocksSnapshot::others_lock_on(dev_t device) {
  current();
  MutexLock lock(mutex_);
  return std::find(others_devices_.begin(), others_devices_.end(), device) != others_devices_.end();
}

std::chrono::system_clock::time_point FirstSeen::of(dev_t device, ino_t inode, pid_t pid) {
  auto now = std::chrono::system_clock::now();
  MutexLock lock(mutex_);
  if (entries_.size() > 1024) {
    std::erase_if(entries_,
                  [&](const auto& e) { return now - e.second.last > std::chrono::minutes(10); });
  }
  auto [entry, added] = entries_.try_emplace({device, inode, pid}, Entry{now, now});
  entry->second.last = now;
  return entry->second.first;
}

namespace {
// Direct holders with an unknown start get the time they were first seen.
void date_unknown_starts(MountModel& fs, std::vector<Holder>& holders, dev_t device, ino_t inode) {
  for (auto& h : holders) {
    if (h.since.time_since_epoch().count() == 0) h.since = fs.first_seen.of(device, inode, h.pid);
  }
}

// The holders of the file `st` (a lock file, or an old-style lock) that are not this daemon's
// own flocks (those are the mount's handles, with their real requesters), from /proc/locks.
void add_direct_holders(MountModel& fs, NodeLockState& state, const LockObject& object,
                        const struct stat& st, bool fresh) {
  auto direct = direct_holders(*fs.proc_locks.current_for(st, fresh), st.st_dev, st.st_ino,
                               getpid(), &state.direct_waiters);
  // Another pbs-lockfs mount's locks: its users, as that daemon reports them.
  fs.other_mounts->resolve(direct, st.st_dev, st.st_ino);
  date_unknown_starts(fs, direct, st.st_dev, st.st_ino);
  // PBS runs every task in proxmox-backup-proxy: name the task behind a direct holder.
  if (!direct.empty()) match_tasks(direct, read_active_tasks(fs.options.tasks_file), object);
  state.holders.insert(state.holders.end(), direct.begin(), direct.end());
}

}  // namespace

NodeLockState node_lock_state(MountModel& fs, const Node& node, bool holders_only,
                              ListingLookups* listing) {
  NodeLockState state;
  LockObject object = node.lock_object();
  LockPath path = object.lock_path();
  state.lock_file = fs.lock_root->absolute(path);
  for (const auto& h : fs.locks->handles(path.relative())) {
    if (!h->holds()) continue;
    MutexLock hold(h->mutex);
    if (!holders_only && h->lock.held() && !h->holds_file_at(state.lock_file)) {
      ++state.holders_of_replaced_files;
    }
    state.holders.push_back(h->holder_locked());
  }
  if (!holders_only) state.mount_waiters = fs.locks->waiter_count(path.relative());

  const bool old_locking =
      listing != nullptr ? listing->old_locking() : fs.lock_root->old_locking_active();
  if (old_locking) {
    // Old PBS processes lock the datastore directory (or the old manifest lock file) instead.
    struct stat target {};
    std::string old_style =
        old_style_lock_path(*fs.lock_root, object, fs.tree->datastore_path(node.store));
    if (stat(old_style.c_str(), &target) == 0)
      add_direct_holders(fs, state, object, target, !holders_only);
  }
  if (holders_only && !old_locking && !fs.proc_locks.others_lock_on(fs.lock_root->device())) {
    return state;
  }
  struct stat file {};
  UniqueFd own_dir;
  if (listing == nullptr) {
    if (auto opened = fs.lock_root->open_directory(path, false))
      own_dir = std::move(opened.value());
  }
  const int dir = listing != nullptr ? listing->directory(path) : own_dir.get();
  state.lock_file_exists =
      dir >= 0 && fstatat(dir, path.name.c_str(), &file, AT_SYMLINK_NOFOLLOW) == 0;
  if (state.lock_file_exists) add_direct_holders(fs, state, object, file, !holders_only);
  std::stable_sort(state.holders.begin(), state.holders.end(),
                   [](const Holder& a, const Holder& b) {
                     return a.mode == LockMode::kExclusive && b.mode != LockMode::kExclusive;
                   });
  return state;
}

}  // namespace pbs::fs
