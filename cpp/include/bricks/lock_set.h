// Several mutexes taken together, always in one global order, so that no two calls
// can deadlock: first the caller's own container mutex (a graph's or a runner's; a
// call takes at most one), then block mutexes in increasing address order.
#pragma once
#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "bricks/errors.h"

namespace bricks {

// The lock orders this thread holds through LockSets. A Python block's forward or
// backward runs inside a call that holds them and may call back into bricks: taking
// one of them again would deadlock (std::mutex is not recursive), so that is refused.
// Plain arrays: a thread_local with a destructor runs it at thread exit, which races
// with glibc freeing the thread's TLS (ThreadSanitizer reports it).
constexpr int kMaxHeldOrders = 16;  // nested calls from Python blocks' callbacks
inline thread_local const std::vector<std::mutex*>* t_held_orders[kMaxHeldOrders];
inline thread_local int t_held_count = 0;

inline bool held_by_this_thread(const std::mutex* m) {
  for (int i = 0; i < t_held_count; ++i)
    for (const auto* x : *t_held_orders[i])
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
    if (t_held_count == kMaxHeldOrders)
      throw StateError("calls nested more than " + std::to_string(kMaxHeldOrders) +
                       " deep through Python blocks' forward/backward");
    for (auto* m : order) m->lock();
    held_ = &order;
    t_held_orders[t_held_count++] = held_;
  }
  void unlock() {
    if (!held_) return;
    for (auto it = held_->rbegin(); it != held_->rend(); ++it) (*it)->unlock();
    for (int i = t_held_count - 1; i >= 0; --i)  // usually the last: LockSets nest
      if (t_held_orders[i] == held_) {
        for (int j = i + 1; j < t_held_count; ++j) t_held_orders[j - 1] = t_held_orders[j];
        --t_held_count;
        break;
      }
    held_ = nullptr;
  }

 private:
  const std::vector<std::mutex*>* held_ = nullptr;
};

}  // namespace bricks
