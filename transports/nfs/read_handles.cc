#include "transports/nfs/read_handles.h"

#include <vector>

namespace ferry::nfs {

// Handles let go are closed after the lock is released: a close is a call on the connection.

std::shared_ptr<ReadHandle> ReadHandles::Find(const std::string& path) {
  std::shared_ptr<ReadHandle> dropped;
  std::lock_guard lock(mu_);
  auto it = held_.find(path);
  if (it == held_.end()) return nullptr;
  if (it->second.handle->connection().given_up()) {
    dropped = std::move(it->second.handle);
    recency_.erase(it->second.recency);
    held_.erase(it);
    return nullptr;
  }
  recency_.splice(recency_.begin(), recency_, it->second.recency);
  return it->second.handle;
}

std::shared_ptr<ReadHandle> ReadHandles::Keep(const std::string& path,
                                              std::shared_ptr<ReadHandle> handle) {
  std::vector<std::shared_ptr<ReadHandle>> dropped;
  std::lock_guard lock(mu_);
  if (capacity_ == 0) return handle;
  auto [it, inserted] = held_.try_emplace(path);
  if (inserted) {
    recency_.push_front(path);
    it->second.recency = recency_.begin();
  } else {
    dropped.push_back(std::move(it->second.handle));
    recency_.splice(recency_.begin(), recency_, it->second.recency);
  }
  it->second.handle = handle;
  while (held_.size() > capacity_) {
    auto oldest = held_.find(recency_.back());
    dropped.push_back(std::move(oldest->second.handle));
    held_.erase(oldest);
    recency_.pop_back();
  }
  return handle;
}

void ReadHandles::Forget(const std::string& path) {
  std::shared_ptr<ReadHandle> dropped;
  std::lock_guard lock(mu_);
  auto it = held_.find(path);
  if (it == held_.end()) return;
  dropped = std::move(it->second.handle);
  recency_.erase(it->second.recency);
  held_.erase(it);
}

}  // namespace ferry::nfs
