// Several mutexes taken together, always in one global order, so that no two calls
// can deadlock: first the caller's own container mutex (a graph's or a runner's; a
// call takes at most one), then block mutexes in increasing address order.
#pragma once
#include <algorithm>
#include <mutex>
#include <vector>

namespace bricks {

// `first` (may be null), then `blocks` sorted and without repeats: the order to lock in.
inline std::vector<std::mutex*> lock_order(std::mutex* first, std::vector<std::mutex*> blocks) {
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  if (first) blocks.insert(blocks.begin(), first);
  return blocks;
}

class LockSet {
 public:
  LockSet() = default;
  LockSet(const LockSet&) = delete;
  LockSet& operator=(const LockSet&) = delete;
  ~LockSet() { unlock(); }
  // `order` (from lock_order) must outlive the lock: it is not copied (no allocation per call).
  void lock(const std::vector<std::mutex*>& order) {
    unlock();
    for (auto* m : order) m->lock();
    held_ = &order;
  }
  void unlock() {
    if (!held_) return;
    for (auto it = held_->rbegin(); it != held_->rend(); ++it) (*it)->unlock();
    held_ = nullptr;
  }

 private:
  const std::vector<std::mutex*>* held_ = nullptr;
};

}  // namespace bricks
