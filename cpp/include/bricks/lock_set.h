// Several mutexes taken together, always in one global order, so that no two calls
// can deadlock: first the caller's own container mutex (a graph's or a runner's; a
// call takes at most one), then block mutexes in increasing address order.
#pragma once
#include <algorithm>
#include <iterator>
#include <mutex>
#include <vector>

#include "bricks/errors.h"

namespace bricks {

// The lock orders this thread holds through LockSets. A Python block's forward or
// backward runs inside a call that holds them and may call back into bricks: taking
// one of them again would deadlock (std::mutex is not recursive), so that is refused.
inline thread_local std::vector<const std::vector<std::mutex*>*> t_held_orders;

inline bool held_by_this_thread(const std::mutex* m) {
  for (const auto* order : t_held_orders)
    for (const auto* x : *order)
      if (x == m) return true;
  return false;
}

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
    for (auto* m : order)
      if (held_by_this_thread(m))
        throw StateError(
            "a model or block was called from inside a Python block's forward or backward "
            "while that call is running it; call it outside forward/backward");
    for (auto* m : order) m->lock();
    held_ = &order;
    t_held_orders.push_back(held_);
  }
  void unlock() {
    if (!held_) return;
    for (auto it = held_->rbegin(); it != held_->rend(); ++it) (*it)->unlock();
    for (auto it = t_held_orders.rbegin(); it != t_held_orders.rend(); ++it)
      if (*it == held_) {
        t_held_orders.erase(std::next(it).base());
        break;
      }
    held_ = nullptr;
  }

 private:
  const std::vector<std::mutex*>* held_ = nullptr;
};

}  // namespace bricks
