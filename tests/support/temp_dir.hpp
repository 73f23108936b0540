// TempDir: a scratch directory for one test, removed with everything in it afterwards.
#pragma once

#include <string>

namespace pbs::test {

class TempDir {
 public:
  /// Creates /tmp/pbs-lockfs-test.XXXXXX with mode 0755 (the daemon, once it runs as `backup`,
  /// must be able to enter it).
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  /// `path()/relative`.
  std::string operator/(const std::string& relative) const { return path_ + "/" + relative; }

 private:
  std::string path_;
};

/// Creates the directory `path` and its missing parents (mode 0755).
void make_directories(const std::string& path);
/// Writes `text` to the file `path`.
void write_file(const std::string& path, const std::string& text);

}  // namespace pbs::test
