// The inode table; see inode_table.hpp.
#include "inode_table.hpp"

#include "impossible_state.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace pbs::fs {

InodeTable::InodeTable() {
  by_inode_[kRootInode] = Entry{Node{}, "", 1};
}

std::uint64_t InodeTable::remember(std::uint64_t parent, const Node& node) {
  if (node.kind == NodeKind::kRoot) return kRootInode;
  MutexLock lock(mutex_);
  std::string mount_path = node.mount_path();
  auto found = by_mount_path_.find(mount_path);
  if (found != by_mount_path_.end()) {
    Entry& entry = by_inode_[found->second];
    ++entry.lookups;
    entry.used = ++use_counter_;
    return found->second;
  }
  std::uint64_t ino = next_++;
  Entry& entry = by_inode_[ino];
  entry = Entry{node, std::move(mount_path), parent, 1, ++use_counter_, false};
  by_mount_path_.emplace(entry.mount_path, ino);
  return ino;
}

std::optional<Node> InodeTable::find(std::uint64_t ino) const {
  MutexLock lock(mutex_);
  auto found = by_inode_.find(ino);
  if (found == by_inode_.end()) return std::nullopt;
  return found->second.node;
}

void InodeTable::attributes_given(std::uint64_t ino) {
  MutexLock lock(mutex_);
  auto found = by_inode_.find(ino);
  if (found != by_inode_.end()) found->second.attributes_cached = true;
}

std::optional<std::uint64_t> InodeTable::take_cached_attributes(const std::string& mount_path) {
  MutexLock lock(mutex_);
  auto found = by_mount_path_.find(mount_path);
  if (found == by_mount_path_.end()) return std::nullopt;
  auto& entry = by_inode_[found->second];
  if (!entry.attributes_cached) return std::nullopt;
  entry.attributes_cached = false;
  return found->second;
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
    by_mount_path_.erase(found->second.mount_path);
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
    const std::string& mount_path = entry->mount_path;
    out.emplace_back(entry->parent, mount_path.substr(mount_path.rfind('/') + 1));
  }
  return out;
}

std::size_t InodeTable::size() const {
  MutexLock lock(mutex_);
  return by_inode_.size();
}

std::uint64_t InodeTable::listing_inode(const std::string& mount_path) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : mount_path)
    hash = (hash ^ c) * 1099511628211ull;
  return hash | (1ull << 63);  // never collides with the table's small sequential numbers
}

}  // namespace pbs::fs
