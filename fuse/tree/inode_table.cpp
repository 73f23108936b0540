// The inode table; see inode_table.hpp.
#include "inode_table.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "impossible_state.hpp"

namespace pbs::fs {
namespace {

std::uint64_t path_hash(const std::string& mount_path) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : mount_path)
    hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

}  // namespace

InodeTable::InodeTable() {
  Entry root;
  root.lookups = 1;
  root.whole = std::make_unique<const Node>();
  root.path_hash = path_hash("");
  by_inode_.emplace(kRootInode, std::move(root));
  by_path_hash_.emplace(path_hash(""), kRootInode);
}

bool InodeTable::compact(const Node& node, const Entry* parent_entry) {
  const bool group_lock_node =
      node.kind == NodeKind::kGroupLock ||
      ((node.kind == NodeKind::kSnapshot || node.kind == NodeKind::kManifest) &&
       node.time.size() == kTimeLength);
  return group_lock_node && parent_entry != nullptr && parent_entry->whole &&
         parent_entry->whole->kind == NodeKind::kGroup &&
         parent_entry->whole->store == node.store && parent_entry->whole->ns == node.ns &&
         parent_entry->whole->group() == node.group();
}

Node InodeTable::node_of(const Entry& entry) const {
  if (entry.whole) return *entry.whole;
  auto parent = by_inode_.find(entry.parent);
  if (parent == by_inode_.end() || !parent->second.whole) {
    // The kernel keeps a directory looked up while it keeps a child: cannot happen.
    impossible_state("inode of a group's lock node outlived its group's (" +
                     std::to_string(entry.parent) + ")");
    return Node{};
  }
  Node node = *parent->second.whole;
  node.kind = entry.kind;
  if (entry.kind != NodeKind::kGroupLock) node.time.assign(entry.time.data(), entry.time.size());
  return node;
}

std::uint64_t InodeTable::find_path(const std::string& mount_path, std::uint64_t hash) const {
  auto [first, last] = by_path_hash_.equal_range(hash);
  for (auto it = first; it != last; ++it) {
    auto entry = by_inode_.find(it->second);
    if (entry != by_inode_.end() && node_of(entry->second).mount_path() == mount_path)
      return it->second;
  }
  return 0;
}

std::uint64_t InodeTable::remember(std::uint64_t parent, const Node& node) {
  if (node.kind == NodeKind::kRoot) return kRootInode;
  const std::string mount_path = node.mount_path();
  const std::uint64_t hash = path_hash(mount_path);
  MutexLock lock(mutex_);
  if (std::uint64_t known = find_path(mount_path, hash); known != 0) {
    Entry& entry = by_inode_.at(known);
    ++entry.lookups;
    entry.used = ++use_counter_;
    return known;
  }
  const std::uint64_t ino = next_++;
  insert(ino, parent, 1, node, hash);
  return ino;
}

void InodeTable::insert(std::uint64_t ino, std::uint64_t parent, std::uint64_t lookups,
                        const Node& node, std::uint64_t hash) {
  Entry entry;
  entry.parent = parent;
  entry.lookups = lookups;
  entry.used = ++use_counter_;
  entry.path_hash = hash;
  entry.kind = node.kind;
  auto parent_entry = by_inode_.find(parent);
  if (compact(node, parent_entry == by_inode_.end() ? nullptr : &parent_entry->second)) {
    if (node.kind != NodeKind::kGroupLock)
      std::memcpy(entry.time.data(), node.time.data(), kTimeLength);
  } else {
    entry.whole = std::make_unique<const Node>(node);
  }
  by_inode_.emplace(ino, std::move(entry));
  by_path_hash_.emplace(hash, ino);
}

InodeTable::SavedTable InodeTable::save() const {
  MutexLock lock(mutex_);
  SavedTable saved;
  saved.next = next_;
  saved.entries.reserve(by_inode_.size());
  for (const auto& [ino, entry] : by_inode_) {
    if (ino != kRootInode)
      saved.entries.push_back({ino, entry.parent, entry.lookups, node_of(entry)});
  }
  std::sort(saved.entries.begin(), saved.entries.end(),
            [](const Saved& a, const Saved& b) { return a.ino < b.ino; });
  return saved;
}

Result<void> InodeTable::restore(const SavedTable& saved) {
  auto refuse = [](const std::string& why) {
    return Error{EINVAL, "inode table not restored: " + why};
  };
  MutexLock lock(mutex_);
  if (by_inode_.size() != 1 || next_ != kRootInode + 1) return refuse("the table is in use");
  // Checked in full before anything changes: a refused restore leaves the fresh table.
  std::unordered_set<std::uint64_t> seen{kRootInode};
  for (const auto& e : saved.entries) {
    const std::string what = "entry " + std::to_string(e.ino) + " (" + e.node.mount_path() + ")";
    if (e.ino == kRootInode || e.node.kind == NodeKind::kRoot) return refuse(what + " is the root");
    if (e.ino >= saved.next) return refuse(what + " is not below the next number");
    if (e.lookups == 0) return refuse(what + " has no lookups");
    if (seen.count(e.parent) == 0) return refuse(what + ": its parent is not before it");
    if (!seen.insert(e.ino).second) return refuse(what + " comes twice");
  }
  for (const auto& e : saved.entries)
    insert(e.ino, e.parent, e.lookups, e.node, path_hash(e.node.mount_path()));
  next_ = saved.next;
  return {};
}

std::optional<Node> InodeTable::find(std::uint64_t ino) const {
  MutexLock lock(mutex_);
  auto found = by_inode_.find(ino);
  if (found == by_inode_.end()) return std::nullopt;
  return node_of(found->second);
}

void InodeTable::attributes_given(std::uint64_t ino) {
  MutexLock lock(mutex_);
  auto found = by_inode_.find(ino);
  if (found != by_inode_.end()) found->second.attributes_cached = true;
}

std::optional<std::uint64_t> InodeTable::take_cached_attributes(const std::string& mount_path) {
  const std::uint64_t hash = path_hash(mount_path);
  MutexLock lock(mutex_);
  std::uint64_t ino = find_path(mount_path, hash);
  if (ino == 0) return std::nullopt;
  auto& entry = by_inode_.at(ino);
  if (!entry.attributes_cached) return std::nullopt;
  entry.attributes_cached = false;
  return ino;
}

void InodeTable::forget(std::uint64_t ino, std::uint64_t count) {
  if (ino == kRootInode) return;
  MutexLock lock(mutex_);
  auto found = by_inode_.find(ino);
  if (found == by_inode_.end()) {
    impossible_state("forget of unknown inode " + std::to_string(ino));
    return;
  }
  if (count > found->second.lookups) {
    impossible_state("forget of inode " + std::to_string(ino) + " by " + std::to_string(count) +
                     " exceeds its " + std::to_string(found->second.lookups) + " lookups");
    count = found->second.lookups;
  }
  found->second.lookups -= count;
  if (found->second.lookups == 0) {
    auto [first, last] = by_path_hash_.equal_range(found->second.path_hash);
    for (auto it = first; it != last; ++it) {
      if (it->second == ino) {
        by_path_hash_.erase(it);
        break;
      }
    }
    by_inode_.erase(found);
  }
}

std::vector<std::pair<std::uint64_t, std::string>> InodeTable::least_recently_used(
    std::size_t limit) const {
  MutexLock lock(mutex_);
  if (by_inode_.size() <= limit) return {};
  std::vector<std::pair<std::uint64_t, const Entry*>> entries;
  entries.reserve(by_inode_.size());
  for (const auto& [ino, entry] : by_inode_) {
    if (ino != kRootInode) entries.emplace_back(entry.used, &entry);
  }
  std::size_t excess = by_inode_.size() - limit;
  std::nth_element(entries.begin(), entries.begin() + static_cast<long>(excess), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  entries.resize(excess);
  std::vector<std::pair<std::uint64_t, std::string>> out;
  out.reserve(excess);
  for (const auto& [used, entry] : entries) {
    std::string mount_path = node_of(*entry).mount_path();
    out.emplace_back(entry->parent, mount_path.substr(mount_path.rfind('/') + 1));
  }
  return out;
}

std::size_t InodeTable::size() const {
  MutexLock lock(mutex_);
  return by_inode_.size();
}

std::uint64_t InodeTable::listing_inode(const std::string& mount_path) {
  return path_hash(mount_path) | (1ull << 63);  // never collides with the table's numbers
}

}  // namespace pbs::fs
