// The mount fixture; see mount_fixture.hpp.
#include "mount_fixture.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grp.h>

#include <fstream>
#include <map>
#include <sstream>

#include "other_process.hpp"

namespace pbs::test {
namespace {

std::map<std::string, std::string>* g_entries = nullptr;
std::size_t g_prefix = 0;

int record(const char* path, const struct stat* st, int, FTW*) {
  std::ostringstream line;
  line << std::oct << st->st_mode << std::dec << " " << st->st_uid << ":" << st->st_gid << " "
       << st->st_size << " " << st->st_mtim.tv_sec << "." << st->st_mtim.tv_nsec;
  if (S_ISREG(st->st_mode)) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    line << " " << std::hash<std::string>{}(content.str());
  } else if (S_ISLNK(st->st_mode)) {
    char target[4096];
    ssize_t n = readlink(path, target, sizeof target);
    line << " -> " << std::string(target, n > 0 ? n : 0);
  }
  (*g_entries)[std::string(path).substr(g_prefix)] = line.str();
  return 0;
}

}  // namespace

std::string tree_fingerprint(const std::string& root) {
  std::map<std::string, std::string> entries;
  g_entries = &entries;
  g_prefix = root.size();
  nftw(root.c_str(), record, 32, FTW_PHYS);
  std::string out;
  for (const auto& [path, line] : entries)
    out += path + " " + line + "\n";
  return out;
}

void MountTest::SetUp() {
  datastore_ = dir_ / "datastore";
  locks_ = dir_ / "locks";
  mnt_ = dir_ / "mnt";
  marker_ = dir_ / "old-locking";
  for (auto d : {".chunks/0000", "vm/100/2024-01-01T00:00:00Z", "vm/100/2024-01-02T00:00:00Z",
                 "vm/100/not-a-snapshot", "ct/200/2024-03-01T06:00:00Z", "vm/-bad", "lxc/1",
                 "ns/prod/vm/300/2024-04-01T00:00:00Z", "ns/prod/ns/site-a/host/db1", "ns/bad name",
                 "outside/vm/666/2024-01-01T00:00:00Z"}) {
    make_directories(datastore_ + "/" + d);
  }
  write_file(datastore_ + "/vm/100/owner", "root@pam\n");
  write_file(datastore_ + "/vm/100/notes", "notes\n");
  write_file(datastore_ + "/vm/100/2024-01-01T00:00:00Z/index.json.blob", "{}");
  symlink((datastore_ + "/outside/vm/666").c_str(), (datastore_ + "/vm/666").c_str());
  make_directories(mnt_);
  fingerprint_ = tree_fingerprint(datastore_);
  std::vector<std::string> options{"store=store1:" + datastore_, "lock_root=" + locks_,
                                   "old_locking_marker=" + marker_};
  for (const auto& o : extra_options())
    options.push_back(o);
  daemon_ = std::make_unique<MountedDaemon>(mnt_, options, dir_ / "daemon.log", watchdog(),
                                            std::vector<std::string>{}, std::function<void()>{},
                                            program());
  ASSERT_TRUE(daemon_->mounted()) << daemon_->log();
}

void MountTest::TearDown() {
  if (daemon_) {
    int code = daemon_->stop();
    EXPECT_EQ(code, 0) << daemon_->log();
    EXPECT_FALSE(daemon_->left_mounted()) << "the monitor did not unmount";
    EXPECT_FALSE(is_fuse_mount(mnt_));
    if (HasFailure()) std::cerr << "daemon log:\n" << daemon_->log();
  }
  EXPECT_EQ(tree_fingerprint(datastore_), fingerprint_) << "the datastore was changed";
}

std::string MountTest::lock_file(const std::string& object, const std::string& ns,
                                 bool manifest) const {
  auto parsed = LockObject::parse("store1", *Namespace::parse(ns), object, manifest);
  EXPECT_TRUE(parsed.ok());
  return locks_ + "/" + parsed->lock_path().relative();
}

int child_errno(const std::function<int()>& op, uid_t uid) {
  int channel[2];
  if (pipe2(channel, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    if (uid != 0 && (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0)) _exit(1);
    int error = op();
    [[maybe_unused]] auto n = write(channel[1], &error, sizeof error);
    _exit(0);
  }
  close(channel[1]);
  int error = -1;
  [[maybe_unused]] auto n = read(channel[0], &error, sizeof error);
  close(channel[0]);
  wait_exit_code(pid);
  return error;
}

int child_open_errno(const std::string& path, int flags, uid_t uid) {
  return child_errno(
      [&] {
        int fd = open(path.c_str(), flags);
        return fd < 0 ? errno : 0;
      },
      uid);
}

HoldingChild::HoldingChild(const std::function<int()>& setup, bool wait) {
  int report[2], release_fds[2];
  if (pipe2(report, O_CLOEXEC) != 0 || pipe2(release_fds, O_CLOEXEC) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    close(report[0]);
    close(release_fds[1]);
    alarm(60);  // a setup that never ends must not outlive the test run
    int error = setup();
    alarm(0);
    [[maybe_unused]] auto w = write(report[1], &error, sizeof error);
    char byte;
    [[maybe_unused]] auto r = read(release_fds[0], &byte, 1);
    _exit(0);
  }
  close(report[1]);
  close(release_fds[0]);
  report_ = report[0];
  release_pipe_ = release_fds[1];
  if (wait) result(-1);
}

int HoldingChild::result(int timeout_ms) {
  if (error_ != -1 || report_ < 0) return error_;
  pollfd p{report_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return -1;
  int error = -1;
  if (read(report_, &error, sizeof error) == static_cast<ssize_t>(sizeof error)) error_ = error;
  close(report_);
  report_ = -1;
  return error_;
}

HoldingChild::~HoldingChild() {
  release();
}

void HoldingChild::release() {
  // Killing, not only closing the pipe: children forked later may hold copies of its write end.
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  close(release_pipe_);
  if (report_ >= 0) close(report_);
  report_ = -1;
  wait_exit_code(pid_);
  pid_ = -1;
}

NodeHolder::NodeHolder(const std::string& path, int flags)
    : HoldingChild([&] { return open(path.c_str(), flags) >= 0 ? 0 : errno; }) {}

std::unique_ptr<MountedDaemon> MountTest::mount_another(const std::string& name,
                                                        std::vector<std::string> options,
                                                        std::vector<std::string> environment,
                                                        std::function<void()> before_exec) {
  const std::string mountpoint = dir_ / name;
  make_directories(mountpoint);
  options.insert(options.begin(), {"store=store1:" + datastore_, "lock_root=" + locks_,
                                   "old_locking_marker=" + marker_});
  return std::make_unique<MountedDaemon>(mountpoint, std::move(options), dir_ / (name + ".log"),
                                         std::chrono::seconds(90), std::move(environment),
                                         std::move(before_exec));
}

mode_t node_mode(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0;
}

}  // namespace pbs::test
