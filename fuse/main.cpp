// pbs-lockfs: the life of a mount. Parse options, open the lock root and the datastores, mount
// (as root), fork into a root monitor and the daemon, drop to `backup`, serve, stop.
#include <fcntl.h>
#include <linux/capability.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "attribute_invalidator.hpp"
#include "connection_io.hpp"
#include "filesystem.hpp"
#include "fuse_workers.hpp"
#include "inode_trimmer.hpp"
#include "lock_tree_monitor.hpp"
#include "logging.hpp"
#include "mount_holders_service.hpp"
#include "mount_monitor.hpp"
#include "mount_table.hpp"
#include "operation_barrier.hpp"
#include "ops.hpp"
#include "privileges.hpp"
#include "program_state.hpp"
#include "program_switch.hpp"
#include "signal_thread.hpp"
#include "stop_signals.hpp"
#include "teardown_watchdog.hpp"

using namespace pbs;
using namespace pbs::fs;

namespace {

// How long the daemon may take to end once its FUSE session has ended; normally milliseconds.
constexpr std::chrono::seconds kTeardownLimit{5};

int fail(const std::string& message, int code = 1) {
  spdlog::error("{}", message);
  return code;
}

// SIGTERM and friends stay blocked from before mounting until each process (monitor, daemon)
// has its handlers: a stop requested in between is delivered then, not lost or fatal.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP})
    sigaddset(&set, s);
  return set;
}

// SIGUSR1 (reload) and SIGUSR2 (upgrade) stay blocked in every thread of the daemon; a
// SignalThread waits for each.
sigset_t reload_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  return set;
}

/// A libfuse session with our operations and `options`' libfuse options (the same in a resumed
/// image, or it would answer FUSE_INIT differently); nullptr when libfuse refuses.
fuse_session* new_session(const Options& options, Filesystem* fs) {
  std::string list = "allow_other,fsname=pbs-lockfs,subtype=pbs-lockfs";
  for (const auto& o : options.fuse_options)
    list += "," + o;
  std::vector<const char*> args{"pbs-lockfs", "-o", list.c_str()};
  fuse_args fuse_argv =
      FUSE_ARGS_INIT(static_cast<int>(args.size()), const_cast<char**>(args.data()));
  fuse_lowlevel_ops ops = filesystem_operations();
  fuse_session* se = fuse_session_new(&fuse_argv, &ops, sizeof ops, fs);
  fuse_opt_free_args(&fuse_argv);
  return se;
}

/// The session of `fs`, after blocking the stop, reload and upgrade signals: they stay blocked
/// until each process and thread has its handler (a signal meanwhile is delivered then).
fuse_session* blocked_session(Filesystem& fs) {
  sigset_t signals = stop_signals();
  sigset_t reload = reload_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  pthread_sigmask(SIG_BLOCK, &reload, nullptr);
  return new_session(fs.options, &fs);
}

/// The state handed over in descriptor `fd` (which is then closed), decoded.
Result<ProgramState> read_state(int fd) {
  UniqueFd file(fd);
  std::string data;
  char chunk[65536];
  for (;;) {
    // From the start whatever the offset: the pre-flight child shares the description.
    ssize_t n = pread(file.get(), chunk, sizeof chunk, static_cast<off_t>(data.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read", "the state handed over");
    if (n == 0) return ProgramState::decode(data);
    data.append(chunk, static_cast<std::size_t>(n));
  }
}

/// Replays the saved FUSE_INIT into `se` (hooks installed) and checks the answer is the one the
/// kernel got from the earlier image.
Result<void> replay_init(fuse_session* se, const ProgramState& state) {
  auto answer = ConnectionIo::replay_init(se, state.init_request);
  if (!answer) return answer.error();
  if (*answer != state.init_reply) {
    return Error{EPROTO, "this program answers FUSE_INIT differently from " + state.version +
                             " (libfuse or the capabilities asked for changed): it needs a "
                             "restart, not an upgrade in place"};
  }
  return {};
}

/// --check-resume: whether this program could take over the state in `fd` (exit 0), or why
/// not (a line on stderr, exit 1). Touches nothing: no connection, no lock.
int check_resume(const Options& options) {
  auto state = read_state(*options.check_resume_fd);
  if (!state) return fail("cannot resume: " + state.error().message);
  fuse_session* se = new_session(options, nullptr);
  if (se == nullptr) return fail("cannot resume: cannot create a FUSE session");
  int scratch = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (auto ok = ConnectionIo::install(se, scratch); !ok) {
    close(scratch);
    fuse_session_destroy(se);
    return fail("cannot resume: " + ok.error().message);
  }
  auto ok = replay_init(se, *state);
  fuse_session_destroy(se);
  if (!ok) return fail("cannot resume: " + ok.error().message);
  std::printf("can resume the state of pbs-lockfs %s: %zu handle(s), %zu node(s)\n",
              state->version.c_str(), state->handles.size(), state->inodes.entries.size());
  return 0;
}

// Whether the mount of connection `device` ("major:minor") is still in the mount table.
bool still_mounted(const std::string& device) {
  for (const auto& entry : read_mount_table()) {
    if (entry.device == device) return true;
  }
  return false;
}

/// How the daemon came to serve: mounted by this image, or taken over from an earlier one.
struct Start {
  bool resumed = false;
  ProgramSwitch program;             ///< what an upgrade runs
  std::vector<SavedWaiter> waiters;  ///< handed over, queued once the lock manager runs
  /// The lock tree monitor's model handed over, for the monitor before it starts.
  std::optional<LockTreeMonitor::Saved> monitor;
};

int serve(Filesystem& fs, fuse_session* se, const std::optional<MountIdentity>& mounted,
          LockChangeListener& invalidator, Start& start) {
  // Few malloc arenas: every worker thread would otherwise keep its own, and memory freed by the
  // inode trimmer would stay scattered over them.
  mallopt(M_ARENA_MAX, 2);  // NOLINT(concurrency-mt-unsafe): before the first thread starts
  // A resumed image runs as the user the first one dropped to.
  if (!start.resumed) {
    if (auto ok = drop_privileges(fs.options.user); !ok) return fail(ok.error().message);
  }
  if (auto ok = fs.lock_manager->start(); !ok) return fail(ok.error().message);
  fs.lock_manager->resume_waiters(std::move(start.waiters));
  // The watcher of the whole lock root: direct holders seen live, and in the history.
  LockTreeMonitor monitor(fs, *fs.events, invalidator);
  if (start.monitor) monitor.restore(*start.monitor);
  if (fs.options.watch) {
    if (auto ok = monitor.start(); !ok) {
      spdlog::warn(
          "not watching the lock tree ({}): locks taken outside the mount show after "
          "attr_timeout, and the history has only the mount's own",
          ok.error().message);
    } else {
      fs.monitor = &monitor;
    }
  }
  MountHoldersService holders(fs);
  if (auto ok = holders.start(); !ok) return fail("holders service: " + ok.error().message);
  StopSignals stop_handlers(se);

  InodeTrimmer trimmer(se, fs.inodes, fs.options.max_inodes);
  sigset_t signals = stop_signals();
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  spdlog::info("serving {} as {} (lock root {}){}", fs.options.mountpoint, fs.options.user,
               fs.lock_root->path(), start.resumed ? ", taken over from the previous program" : "");
  // All workers from the start, and they stay: under bursts of many clients, starting and ending
  // threads cost more than the requests (measured in tests/bench/README.md, throughput rows).
  FuseWorkers workers(se, fs.options.max_threads);
  // A reload (SIGUSR1) re-reads the datastores; `pbs-lockctl upgrade` (SIGUSR2) pauses the
  // workers, and the program is replaced (or not, and they go on serving). One thread for both.
  SignalThread signal_actions(
      {{SIGUSR1, [&fs] { fs.stores->reload(); }}, {SIGUSR2, [&workers] { workers.pause(); }}});
  // Once the session has ended, the rest must take seconds at most (teardown_watchdog.hpp).
  TeardownWatchdog watchdog(kTeardownLimit);
  int rc = 0;
  for (;;) {
    rc = workers.run([&watchdog] {
      if (auto ok = watchdog.start(); !ok)
        spdlog::warn("no teardown watchdog: {}", ok.error().message);
    });
    if (!workers.paused()) break;
    const std::uint64_t attempt = fs.program.attempt();
    spdlog::info("upgrade asked: pausing to hand the mount over to {}", start.program.path());
    Error why = start.program.replace(fs, fuse_session_fd(se), attempt);
    // Still here: nothing was handed over.
    spdlog::error("upgrade refused, serving on with this program: {}", why.message);
    fs.program.refused(why.message);
  }
  if (int signal = StopSignals::received(); signal != 0) {
    spdlog::info("signal {}: ending now, which releases every lock still held", signal);
  }
  const std::size_t open_handles = fs.lock_manager->total_handles();
  watchdog.phase("stopping the holders service");
  inject_stall("teardown");
  holders.stop();
  watchdog.phase("stopping the lock manager");
  fs.lock_manager->stop();
  fs.monitor = nullptr;
  watchdog.phase("stopping the lock tree monitor");
  monitor.stop();
  release_open_directories();
  spdlog::info("stopped serving {}", fs.options.mountpoint);
  // The connection ended, or a stop signal asked: a clean exit.
  if (rc == 0) return 0;
  // Detached (a polite stop, `umount -l`) while the kernel still had requests queued for us
  // (the releases of a burst of closes): it ends the connection with ECONNABORTED. Nothing is
  // lost: those handles are closed, and their locks go with this process.
  if (rc == -ECONNABORTED && mounted && !still_mounted(mounted->device)) {
    if (open_handles == 0) {
      spdlog::info("the kernel ended the connection after the mount was detached");
    } else {
      // Their closes may be among the requests the kernel dropped; if not, their holders get
      // ENOTCONN from now on: either way the locks cannot be kept for them.
      spdlog::warn(
          "the kernel ended the connection after the mount was detached, with {} handle(s) "
          "not closed to the daemon: their locks are released now",
          open_handles);
    }
    return 0;
  }
  spdlog::error("the FUSE session loop failed ({})", rc);
  return 1;
}

/// --resume: this process ran an earlier program image, which handed its state over in
/// options.resume_fd: take over its connection and everything open, and serve. A failure here
/// ends the daemon (its locks with it): the pre-flight check ran this same code on this state.
int resume(Filesystem& fs, LockChangeListener& invalidator, Start& how) {
  auto state = read_state(*fs.options.resume_fd);
  if (!state) return fail("cannot resume: " + state.error().message);
  fuse_session* se = blocked_session(fs);
  if (se == nullptr) return fail("cannot resume: cannot create the FUSE session");
  fs.session = se;
  auto done = [&](int code) {
    fuse_session_destroy(se);
    return code;
  };
  if (auto ok = ConnectionIo::install(se, state->connection_fd); !ok)
    return done(fail("cannot resume: " + ok.error().message));
  if (auto ok = replay_init(se, *state); !ok)
    return done(fail("cannot resume: " + ok.error().message));
  // Inherited without close-on-exec for the switch: a child of this image must not get them.
  for (int fd : state->descriptors())
    fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
  how.resumed = true;
  const std::string from = state->version;
  const std::uint64_t state_upgrades = state->upgrades;
  const std::size_t handles = state->handles.size();
  const std::size_t waits = state->waits.size();
  auto handover = install_state(fs, std::move(state.value()));
  if (!handover) return done(fail("cannot resume: " + handover.error().message));
  how.waiters = std::move(handover->waiters);
  how.monitor = std::move(handover->monitor);
  fs.program.resumed(state_upgrades, from);
  std::optional<MountIdentity> mounted = mount_identity(fs.options.mountpoint);
  spdlog::info(
      "took over {} from pbs-lockfs {}: {} open handle(s), their locks held throughout, and {} "
      "waiting request(s)",
      fs.options.mountpoint, from, handles, waits);
  if (!fs.options.foreground) log_to_syslog();
  return done(serve(fs, se, mounted, invalidator, how));
}

/// main() without the last-resort catch.
int start(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  if (!options) {
    std::fprintf(stderr, "pbs-lockfs: %s\n", options.error().message.c_str());
    return 2;
  }
  if (options->show_help) return std::fputs(usage_text(), stdout), 0;
  if (options->show_version) return std::printf("pbs-lockfs %s\n", PBS_LOCKFS_VERSION), 0;
  if (auto logging = setup_logging(options->debug); !logging) {
    std::fprintf(stderr, "pbs-lockfs: %s\n", logging.error().message.c_str());
    return 2;
  }
  if (options->check_resume_fd) return check_resume(*options);
  // What an upgrade runs: this program's file, with this command line (the hand-over's own
  // arguments left out).
  std::vector<std::string> arguments;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--resume=") && !arg.starts_with("--check-resume="))
      arguments.emplace_back(arg);
  }
  Start how{false, ProgramSwitch(ProgramSwitch::running_program(), std::move(arguments)), {}, {}};

  Filesystem fs;
  AttributeInvalidator invalidator(fs.inodes, fs.session);
  fs.options = std::move(options.value());
  auto owner = Owner::lookup("backup", "backup");
  if (!owner) return fail("lock files belong to backup:backup: " + owner.error().message, 2);
  fs.owner = *owner;
  auto lock_gid = lookup_group(fs.options.lock_group);
  if (!lock_gid) return fail("lock_group: " + lock_gid.error().message, 2);
  fs.access = AccessPolicy{fs.owner.uid, *lock_gid, fs.options.public_listing};
  auto user = check_user(fs.options.user);
  if (!user) return fail("user: " + user.error().message, 2);
  // Other daemons on this lock root serve as backup or as their user=; root runs none.
  fs.other_mounts = std::make_unique<MountHoldersResolver>(
      std::vector<uid_t>{0, fs.owner.uid, *user}, std::chrono::milliseconds(5),
      std::chrono::milliseconds(250));
  fs.stores = fs.options.stores.empty() ? DatastoreRegistry::from_config(fs.options.config)
                                        : DatastoreRegistry::from_list(fs.options.stores);
  for (const auto& store : fs.options.stores) {
    struct stat st {};
    if (stat(store.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      spdlog::warn(
          "store={}: {} is not a directory (yet): its namespaces and snapshots appear "
          "once it exists; lock files already in the lock root show meanwhile",
          store.name, store.path);
    }
  }
  auto root = LockRoot::open(fs.options.lock_root, fs.owner, fs.options.old_locking_marker);
  if (!root) return fail("lock root: " + root.error().message);
  fs.lock_root.emplace(std::move(root.value()));
  raise_file_limit();
  std::optional<std::chrono::milliseconds> timeout;
  if (fs.options.wait_timeout) {
    timeout = std::chrono::milliseconds(static_cast<long>(*fs.options.wait_timeout * 1000));
  }
  // The lock manager answers lock requests; the tree model reads its holds (MountLocks) and
  // the kernel's cached attributes are invalidated on every change it makes.
  fs.lock_manager = std::make_unique<LockManager>(*fs.lock_root, timeout);
  fs.locks = fs.lock_manager.get();
  fs.lock_manager->on_change(invalidator);
  // Under systemd, lock events become journal entries with PBS_LOCK_* fields.
  fs.events = std::make_unique<LockEventRecorder>(fs.options.history_events,
                                                  std::getenv("JOURNAL_STREAM") != nullptr);
  fs.lock_manager->record_events(*fs.events);
  fs.contention = std::make_unique<ContentionNotifier>(*fs.lock_manager);
  fs.events->on_contention(*fs.contention);
  fs.tree = std::make_unique<MountTree>(*fs.stores, *fs.lock_root, *fs.lock_manager);
  fs.program.started(how.program.path());
  if (fs.options.resume_fd) return resume(fs, invalidator, how);

  fuse_session* se = blocked_session(fs);
  if (se == nullptr) return fail("cannot create the FUSE session");
  fs.session = se;
  // One pbs-lockfs per mountpoint: a second one stacked on top would hide the first, whose
  // locks stay held but could no longer be seen or released through the mountpoint.
  if (mounted_type(fs.options.mountpoint) == "fuse.pbs-lockfs") {
    fuse_session_destroy(se);
    return fail(fs.options.mountpoint +
                    ": a pbs-lockfs mount is already there; unmount it first (umount, or "
                    "umount --lazy when its daemon is gone)",
                2);
  }
  if (fuse_session_mount(se, fs.options.mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return fail("cannot mount " + fs.options.mountpoint);
  }
  // The connection's reads and writes through our hooks: they keep the FUSE_INIT exchange that
  // an upgrade hands over.
  if (auto ok = ConnectionIo::install(se, fuse_session_fd(se)); !ok) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return fail(ok.error().message);
  }
  std::optional<MountIdentity> mounted = mount_identity(fs.options.mountpoint);
  if (!mounted) spdlog::warn("cannot identify the new mount at {}", fs.options.mountpoint);
  spdlog::info("mounted {} ({} datastore(s))", fs.options.mountpoint, fs.stores->current()->size());
  // From here a failure unwinds what is done, in reverse: nothing stays mounted without a
  // daemon behind it.
  auto unwind = [&](const std::string& message) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    return fail(message + "; unmounted " + fs.options.mountpoint);
  };
  if (!fs.options.foreground) log_to_syslog();  // stderr is /dev/null from here on
  if (fuse_daemonize(fs.options.foreground) != 0) return unwind("cannot go to the background");

  pid_t daemon = fork();
  if (daemon < 0) return unwind(std::string("fork failed: ") + error_text(errno));
  if (daemon > 0) {
    fuse_session_destroy(se);  // closes our copy: only the daemon keeps the connection alive
    // Root only for what is left to do: unmount (CAP_SYS_ADMIN) and signal the daemon, which
    // runs as backup (CAP_KILL). Nothing else, for its whole life.
    if (geteuid() == 0) {
      if (auto ok = keep_only_capabilities({CAP_SYS_ADMIN, CAP_KILL}); !ok)
        spdlog::warn("monitor keeps its capabilities: {}", ok.error().message);
    }
    MonitorSettings settings{fs.options.mountpoint, mounted, std::nullopt};
    if (fs.options.stop_grace) {
      settings.stop_grace =
          std::chrono::milliseconds(static_cast<long>(*fs.options.stop_grace * 1000));
    }
    return monitor_daemon(daemon, settings);
  }
  int code = serve(fs, se, mounted, invalidator, how);
  fuse_session_destroy(se);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Requests have their own barrier (operation_barrier.hpp); this one is for setup and teardown:
  // an exception there ends the program with a line that says why, not with std::terminate.
  try {
    return start(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pbs-lockfs: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "pbs-lockfs: unknown exception\n");
  }
  return 1;
}
