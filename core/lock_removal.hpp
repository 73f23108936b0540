// PBS's destroy protocol for lock files: take the locks exclusively, then unlink the files while
// still holding them, so that anybody who opened the old file fails the double-stat.
#pragma once

#include <chrono>
#include <functional>

#include "lock.hpp"

namespace pbs {

/// Removes the lock files of `objects` (for a snapshot: {snapshot, manifest}, in that locking
/// order). Each is taken exclusively without waiting; `held`, when given, is the caller's own
/// exclusive hold on objects[0] and is used instead of taking it again. Files are unlinked in
/// reverse order while all locks are held. Missing files are skipped; nothing is created.
/// EBUSY when anybody else holds one of them. Directories are never removed.
/// A busy manifest lock is waited for as PBS's destroy does (up to kManifestWait), unless
/// `interrupted` says the caller gave up (then EINTR).
Result<void> remove_lock_files(const LockRoot& root, const std::vector<LockRequest>& objects,
                               Lock* held = nullptr, const std::function<bool()>& interrupted = {});

/// How long PBS waits for a manifest lock (`lock_manifest`, 5 s) before giving up.
inline constexpr std::chrono::seconds kManifestWait{5};

/// The requests for a snapshot's destroy: its snapshot lock, then its manifest lock.
std::vector<LockRequest> snapshot_removal(const LockObject& snapshot,
                                          const std::string& datastore_path);

}  // namespace pbs
