// InodeTable: the nodes the kernel has looked up, by inode number, with their lookup counts.
// Memory follows what the kernel keeps, not the size of the datastore: forget() drops entries.
//
// Most entries are a group's lock nodes (a listing of 100,000 snapshots looks up 200,000), so
// those are kept compact: their kind and snapshot time, the rest of the node being the group's
// entry (their parent, which the kernel keeps looked up while a child is). Every other node is
// kept whole. Entries are found by number, and by a hash of their mount path whose matches are
// checked against the path rebuilt from the entry.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mutex.hpp"
#include "node.hpp"
#include "result.hpp"

namespace pbs::fs {

class InodeTable {
 public:
  static constexpr std::uint64_t kRootInode = 1;

  InodeTable();
  /// Counts one more kernel reference to `node` (named `node.mount_path()`'s last component in
  /// directory `parent`) and returns its inode number.
  std::uint64_t remember(std::uint64_t parent, const Node& node);
  std::optional<Node> find(std::uint64_t ino) const;
  /// Notes that the kernel is being given `ino`'s attributes (call before computing them).
  void attributes_given(std::uint64_t ino);
  /// The inode number of the node at `mount_path` if the kernel may have cached its attributes
  /// since the last call; then they count as invalidated. Skips the notification for nodes nobody
  /// looked at (a lock cycle through the mount needs none).
  std::optional<std::uint64_t> take_cached_attributes(const std::string& mount_path);
  /// Drops `count` kernel references; the entry goes with the last.
  void forget(std::uint64_t ino, std::uint64_t count);
  std::size_t size() const;
  /// Entries the kernel should let go so that the table shrinks to `limit`: the least recently
  /// used first, as (parent inode, name) for fuse_lowlevel_notify_inval_entry(). The kernel
  /// answers with FORGET once nothing uses them; until then they stay.
  std::vector<std::pair<std::uint64_t, std::string>> least_recently_used(std::size_t limit) const;
  /// A stable number for readdir entries that the kernel has not looked up.
  static std::uint64_t listing_inode(const std::string& mount_path);

  /// One entry as another program image of the daemon needs it to go on serving the same kernel
  /// connection, which keeps every number and lookup count it was given.
  struct Saved {
    std::uint64_t ino = 0;
    std::uint64_t parent = 0;
    std::uint64_t lookups = 0;
    Node node;
  };
  struct SavedTable {
    std::vector<Saved> entries;  ///< by number (so parents before their children); no root
    std::uint64_t next = 0;      ///< the number the next new node gets
  };
  /// Every entry but the root, and the next number.
  SavedTable save() const;
  /// Fills a fresh table (only the root in it) with what save() returned. Refused, with the table
  /// unchanged, when the table is not fresh or `saved` is inconsistent: a number twice, the root,
  /// a number not below `next`, a parent not in the table before its child, no lookups.
  Result<void> restore(const SavedTable& saved);

 private:
  /// Snapshot times are `YYYY-MM-DDTHH:MM:SSZ`, always this long.
  static constexpr std::size_t kTimeLength = 20;
  struct Entry {
    std::uint64_t parent = 0;
    std::uint64_t lookups = 0;
    std::uint64_t used = 0;       ///< use_counter_ at the last lookup
    std::uint64_t path_hash = 0;  ///< of the mount path: the key in by_path_hash_
    /// Every node but a group's lock nodes; those are their parent's node with `kind`, `time`.
    std::unique_ptr<const Node> whole;
    NodeKind kind = NodeKind::kRoot;
    bool attributes_cached = false;
    std::array<char, kTimeLength> time{};
  };
  /// Whether `node`, a child of `parent_entry`, is kept compact.
  static bool compact(const Node& node, const Entry* parent_entry);
  Node node_of(const Entry& entry) const PBS_REQUIRES(mutex_);
  std::uint64_t find_path(const std::string& mount_path, std::uint64_t hash) const
      PBS_REQUIRES(mutex_);
  /// Adds `node` as number `ino`, child of `parent`, with `lookups` kernel references.
  void insert(std::uint64_t ino, std::uint64_t parent, std::uint64_t lookups, const Node& node,
              std::uint64_t hash) PBS_REQUIRES(mutex_);

  mutable Mutex mutex_;
  std::unordered_map<std::uint64_t, Entry> by_inode_ PBS_GUARDED_BY(mutex_);
  std::unordered_multimap<std::uint64_t, std::uint64_t> by_path_hash_ PBS_GUARDED_BY(mutex_);
  std::uint64_t next_ PBS_GUARDED_BY(mutex_) = kRootInode + 1;
  std::uint64_t use_counter_ PBS_GUARDED_BY(mutex_) = 0;
};

}  // namespace pbs::fs
