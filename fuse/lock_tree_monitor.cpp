// The lock tree monitor's thread; see lock_tree_monitor.hpp.
#include "lock_tree_monitor.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

#include "lock_directory.hpp"
#include "lock_holders.hpp"
#include "pbs_tasks.hpp"

namespace pbs::fs {
namespace {

// Log lines of mount events are written at least this often (and whenever the thread wakes).
constexpr std::chrono::milliseconds kPublishEvery{50};
// The shortest time between two reads of lock tree events.
constexpr std::chrono::milliseconds kBatchEvery{2};
// Our own opens not matched by an inotify event for this long never will be.
constexpr std::chrono::seconds kOwnOpensKept{2};
// Reads of /proc/locks in one re-check while a lock file is younger than the read (a new file
// stays younger for at most one tick of the coarse clock, 1-10 ms).
constexpr int kMaxRereads = 3;

DirectLockTracker::Activity activity_of(LockTreeWatch::Event::Kind kind) {
  switch (kind) {
    case LockTreeWatch::Event::Kind::kOpened:
      return DirectLockTracker::Activity::kOpened;
    case LockTreeWatch::Event::Kind::kClosed:
      return DirectLockTracker::Activity::kClosed;
    case LockTreeWatch::Event::Kind::kCreated:
      return DirectLockTracker::Activity::kCreated;
    case LockTreeWatch::Event::Kind::kRemoved:
      break;
  }
  return DirectLockTracker::Activity::kRemoved;
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  for (;;) {
    auto slash = path.find('/', begin);
    parts.push_back(path.substr(begin, slash - begin));
    if (slash == std::string::npos) return parts;
    begin = slash + 1;
  }
}

}  // namespace

Result<void> LockTreeMonitor::start() {
  auto watch = LockTreeWatch::create(*model_.lock_root);
  if (!watch) return watch.error();
  watch_.emplace(std::move(watch.value()));
  if (auto ok = sleep_.open(watch_->fd()); !ok) return ok.error();
  OwnLockOpens::instance().enable(true);
  model_.proc_locks.watch_activity(&activity_);
  watch_->watch_tree();
  watches_ = watch_->watches();
  root_replacements_ = model_.lock_root->replacements();
  spdlog::info("watching {} lock directories below {}", watch_->watches(),
               model_.lock_root->path());
  running_ = true;
  thread_ = std::thread([this] { run(); });
  return {};
}

void LockTreeMonitor::stop() {
  if (!running_.exchange(false)) return;
  sleep_.wake();
  thread_.join();
  model_.proc_locks.watch_activity(nullptr);
  recorder_.publish();
}

std::optional<LockObject> LockTreeMonitor::object_of(const std::string& lock_file) const {
  auto parts = split(lock_file);
  if (parts.size() < 2 || parts.size() > 4) return std::nullopt;
  const std::string& store = parts.front();
  const std::string& name = parts.back();
  // `store/name`, `store/ns/name`; `hashed/` names cannot be read back (a namespace may also be
  // called `hashed`: then the name parses).
  Namespace ns;
  if (parts.size() >= 3) {
    if (parts.size() == 4 || parts[1] == "hashed") {
      if (parts.size() == 4 || parse_lock_file_name(store, ns, name) == std::nullopt) {
        // Possibly a namespace named hashed.
        if (parts.size() == 3) {
          auto hashed_ns = Namespace::parse("hashed");
          if (hashed_ns) return parse_lock_file_name(store, *hashed_ns, name);
        }
        return std::nullopt;
      }
    }
    std::string components = parts[1];
    std::replace(components.begin(), components.end(), ':', '/');
    auto parsed = Namespace::parse(components);
    if (!parsed) return std::nullopt;
    ns = std::move(parsed.value());
  }
  return parse_lock_file_name(store, ns, name);
}

void LockTreeMonitor::record(const std::string& lock_file, const LockObject& object,
                             const DirectLockTracker::Change& change) {
  using Kind = DirectLockTracker::Change::Kind;
  const auto now = std::chrono::system_clock::now();
  const bool wait = change.kind == Kind::kWaitStarted || change.kind == Kind::kWaitEnded;
  const auto key = std::make_tuple(lock_file, change.pid, wait);
  if (change.kind == Kind::kHoldEnded || change.kind == Kind::kWaitEnded) {
    auto found = open_events_.find(key);
    if (found == open_events_.end()) return;  // began before we watched it
    recorder_.finish(found->second, now,
                     change.kind == Kind::kHoldEnded ? "released"
                     : change.granted                ? "granted"
                                                     : "gave up waiting");
    open_events_.erase(found);
    return;
  }
  LockEvent event;
  event.object = object;
  event.via_mount = false;
  event.start = now;
  if (change.kind == Kind::kRefused) {
    event.type = LockEvent::Type::kRefused;
    event.end = now;
    event.outcome = "refused";
    event.note =
        "seen through inotify as an open and close of the lock file while it was held: the pid "
        "and the mode asked are unknown";
    if (change.uncertain)
      event.note +=
          "; every holder was shared, so this may also have been "
          "a shared hold too short to be seen";
    recorder_.record(std::move(event));
    return;
  }
  event.type = wait ? LockEvent::Type::kWait : LockEvent::Type::kHold;
  event.mode = change.mode;
  event.pid = change.pid;
  ProcessInfo info = process_info(change.pid);
  event.uid = info.uid;
  event.command = info.alive ? info.command : "(exited)";
  if (!wait) {
    std::vector<LockHolder> holder(1);
    holder[0].pid = change.pid;
    match_tasks(holder, read_active_tasks(model_.options.tasks_file), object);
    event.task = holder[0].task;
  }
  open_events_[key] = recorder_.record(std::move(event));
}

void LockTreeMonitor::recheck(const std::vector<std::string>& lock_files) {
  if (lock_files.empty()) return;
  // Each file is stat'd after the read: one that existed before the read began and still does
  // kept its inode number throughout, so the read's locks on that inode are its own. A file
  // younger than the read may have the number of a removed file that the read saw locked (ext4
  // reuses them at once): then read again, so that no removed file's lock shows on a new one.
  std::shared_ptr<const std::vector<ProcLock>> shared;
  std::vector<std::optional<std::pair<dev_t, ino_t>>> identities(lock_files.size());
  for (int attempt = 0; attempt < kMaxRereads; ++attempt) {
    const std::uint64_t generation = activity_.load();
    const auto read_at = ProcLocksSnapshot::ReadStart::now();
    auto locks = read_proc_locks();
    if (!locks) return;
    shared = std::make_shared<const std::vector<ProcLock>>(std::move(locks.value()));
    // What getattr reads from now on: a stat after our invalidation must not see an older copy.
    model_.proc_locks.replace(shared, generation, read_at);
    bool younger = false;
    for (std::size_t i = 0; i < lock_files.size(); ++i) {
      identities[i].reset();
      struct stat st {};
      if (fstatat(model_.lock_root->fd(), lock_files[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISREG(st.st_mode)) {
        identities[i] = std::make_pair(st.st_dev, st.st_ino);
        younger = younger || read_at.may_predate(st);
      }
    }
    if (!younger) break;
  }
  const pid_t self = getpid();
  const auto now = DirectLockTracker::Clock::now();
  for (std::size_t i = 0; i < lock_files.size(); ++i) {
    const std::string& lock_file = lock_files[i];
    const auto& identity = identities[i];
    OwnLockOpens::Counts own;
    if (identity) own = OwnLockOpens::instance().take(identity->first, identity->second);
    if (auto previous = tracker_.identity(lock_file); previous && previous != identity) {
      auto more = OwnLockOpens::instance().take(previous->first, previous->second);
      own.opens += more.opens;
      own.closes += more.closes;
    }
    std::vector<LockMode> mount_holds;
    for (const auto& h : model_.locks->handles(lock_file)) {
      if (h->holds()) mount_holds.push_back(h->held_mode());
    }
    auto update = tracker_.update(lock_file, identity, *shared, self, own, mount_holds, now);
    if (spdlog::should_log(spdlog::level::trace)) {
      spdlog::trace("re-check {}: {} change(s){}", lock_file, update.changes.size(),
                    update.state_changed ? ", state changed" : "");
    }
    if (!update.state_changed && !update.foreign_activity && update.changes.empty()) continue;
    auto object = object_of(lock_file);
    if (!object) continue;
    // Only nodes whose attributes the kernel was given since their last invalidation.
    if (update.state_changed || update.foreign_activity) listener_.changed(*object);
    for (const auto& change : update.changes)
      record(lock_file, *object, change);
  }
  tracked_ = tracker_.tracked();
}

void LockTreeMonitor::run() {
  // What the monitor does is inspection: a failure in it must never end the daemon (and the
  // locks it holds). It logs, stops watching, and the daemon serves as with watch=no.
  try {
    watch_and_record();
  } catch (const std::exception& e) {
    spdlog::error(
        "the lock tree monitor stopped: {}; locks taken outside the mount now show "
        "after attr_timeout, and the history has only the mount's own",
        e.what());
  }
  model_.proc_locks.watch_activity(nullptr);
  OwnLockOpens::instance().enable(false);
}

void LockTreeMonitor::watch_and_record() {
  auto last_publish = std::chrono::steady_clock::now();
  auto last_forget = last_publish;
  while (running_) {
    int timeout_ms = 0;
    {
      MutexLock turn(turn_);
      auto now = std::chrono::steady_clock::now();
      auto due = std::min(tracker_.next_due(), last_publish + kPublishEvery);
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now);
      timeout_ms = static_cast<int>(std::max<long>(0, wait.count()));
    }
    // Woken without events: to stop (running_ is checked) or for a re-check that is due.
    const bool read_events = sleep_.wait(timeout_ms);
    const auto woken = std::chrono::steady_clock::now();
    look(read_events, last_publish, last_forget);
    // At most one batch of events per kBatchEvery: under a stream of lock cycles (the mount's
    // own, or PBS's) the events pile up meanwhile and are read together, instead of waking this
    // thread for every open and close (that cost the uncontended cycle through the mount 40%
    // on 2 cores). Re-checks and attributes are at most this much later.
    if (read_events) std::this_thread::sleep_until(woken + kBatchEvery);
  }
}

void LockTreeMonitor::look(bool read_events, std::chrono::steady_clock::time_point& last_publish,
                           std::chrono::steady_clock::time_point& last_forget) {
  MutexLock turn(turn_);
  if (!running_) return;
  auto now = std::chrono::steady_clock::now();
  bool overflowed = false;
  if (read_events) {
    auto batch = watch_->read(overflowed);
    // A /proc/locks copy from before these is stale (only lock file events count: the
    // daemon's own listings open lock directories all the time).
    if (!batch.empty()) ++activity_;
    watches_ = watch_->watches();  // new directories are watched as they appear
    // Whether the mount holds a file whose close was read: once per file and batch (a
    // stream of lock cycles through the mount brings hundreds of closes per batch).
    std::unordered_map<std::string, bool> held_now;
    for (auto& event : batch) {
      spdlog::trace("lock tree event {} {}/{}", static_cast<int>(event.kind), event.directory,
                    event.name);
      const std::string lock_file = event.directory + "/" + event.name;
      bool held = false;
      if (event.kind == LockTreeWatch::Event::Kind::kClosed) {
        auto [known, added] = held_now.try_emplace(lock_file, false);
        if (added) {
          for (const auto& h : model_.locks->handles(lock_file))
            known->second = known->second || h->holds();
        }
        held = known->second;
      }
      tracker_.activity(lock_file, activity_of(event.kind), now, held);
    }
  }
  if (model_.lock_root->replacements() != root_replacements_ || overflowed) {
    // Replaced lock root, or events lost: watch again from the top.
    root_replacements_ = model_.lock_root->replacements();
    if (overflowed) spdlog::warn("inotify queue overflowed: watching the lock tree again");
    watch_->watch_tree();
    watches_ = watch_->watches();
  }
  now = std::chrono::steady_clock::now();
  recheck(tracker_.due(now));
  if (now - last_publish >= kPublishEvery) {
    recorder_.publish();
    last_publish = now;
  }
  if (now - last_forget >= kOwnOpensKept) {
    OwnLockOpens::instance().forget_older_than(kOwnOpensKept);
    tracker_.forget_debts(now, kOwnOpensKept);
    tracked_ = tracker_.tracked();
    last_forget = now;
  }
}

void LockTreeMonitor::freeze() {
  turn_.lock();  // held until thaw() or execve: the analysis cannot follow it
}

void LockTreeMonitor::thaw() {
  turn_.unlock();
}

LockTreeMonitor::Saved LockTreeMonitor::save() const {
  Saved saved;
  saved.files = tracker_.save();
  for (const auto& [key, id] : open_events_) {
    const auto& [lock_file, pid, wait] = key;
    saved.events.push_back({lock_file, pid, wait, id});
  }
  return saved;
}

void LockTreeMonitor::restore(const Saved& saved) {
  MutexLock turn(turn_);
  tracker_.restore(saved.files, DirectLockTracker::Clock::now());
  for (const auto& e : saved.events)
    open_events_[{e.lock_file, e.pid, e.wait}] = e.id;
  tracked_ = tracker_.tracked();
}

}  // namespace pbs::fs
