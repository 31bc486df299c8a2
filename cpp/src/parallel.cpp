#include "bricks/parallel.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace bricks {
namespace {

// Workers wait for a new job's generation: they spin a little first (calls come back
// to back in a predict loop, and waking a sleeping thread costs tens of microseconds),
// then sleep on the condition variable.
class Pool {
 public:
  bool try_run(std::int64_t chunks, int threads, ChunkFn f, void* ctx) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    grow(threads - 1);
    {
      std::lock_guard<std::mutex> l(mu_);
      job_ = f;
      ctx_ = ctx;
      chunks_ = chunks;
      next_.store(0);
      joined_.store(0);
      allowed_.store(threads - 1);
      open_.store(true);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work(f, ctx, chunks);
    // Close the job, then wait only for the helpers already inside it: one that a
    // busy core has not run yet never joins, and the call does not wait for it.
    open_.store(false);
    while (inside_.load() != 0) std::this_thread::yield();
    return true;
  }

 private:
  void work(ChunkFn f, void* ctx, std::int64_t chunks) {
    for (std::int64_t c; (c = next_.fetch_add(1)) < chunks;) f(ctx, c);
  }
  void grow(int n) {
    while (static_cast<int>(threads_.size()) < n) {
      // the generation before this call's job: the new thread must not skip the job
      const std::uint64_t seen = gen_.load();
      threads_.emplace_back([this, seen] { loop(seen); });
      threads_.back().detach();  // the pool lives as long as the process
    }
  }
  // Joins the open job (seq_cst with try_run's close: either the caller sees this
  // helper inside, or the helper sees the job closed), within the job's thread count.
  void join_and_work() {
    inside_.fetch_add(1);
    if (open_.load() && joined_.fetch_add(1) < allowed_) {
      // the job cannot change while this helper is inside: the caller waits for it
      std::unique_lock<std::mutex> l(mu_);
      const ChunkFn f = job_;
      void* ctx = ctx_;
      const std::int64_t chunks = chunks_;
      l.unlock();
      work(f, ctx, chunks);
    }
    inside_.fetch_sub(1);
  }
  void loop(std::uint64_t seen) {
    for (;;) {
      // spin a little first: calls come back to back in a predict loop, and waking a
      // sleeping thread costs tens of microseconds
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (gen_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return gen_.load(std::memory_order_acquire) != seen; });
        seen = gen_.load(std::memory_order_acquire);
      }
      join_and_work();
    }
  }

  std::mutex busy_, mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  ChunkFn job_ = nullptr;  // job_, ctx_, chunks_: written under mu_
  void* ctx_ = nullptr;
  std::int64_t chunks_ = 0;
  std::atomic<int> allowed_{0};
  std::atomic<std::int64_t> next_{0};
  std::atomic<int> inside_{0}, joined_{0};
  std::atomic<bool> open_{false};
  std::atomic<std::uint64_t> gen_{0};
};

// Never destroyed: its detached threads outlive main. They do not survive a fork: the
// child starts a new pool (the old one leaks).
Pool* g_pool = nullptr;
std::once_flag g_pool_once;

}  // namespace

bool parallel_chunks(std::int64_t chunks, int threads, ChunkFn f, void* ctx) {
  if (threads > 1 && chunks > 1) {
    std::call_once(g_pool_once, [] {
      g_pool = new Pool;
      pthread_atfork(nullptr, nullptr, [] { g_pool = new Pool; });
    });
    if (g_pool->try_run(chunks, threads < chunks ? threads : static_cast<int>(chunks), f, ctx))
      return true;
  }
  for (std::int64_t c = 0; c < chunks; ++c) f(ctx, c);
  return false;
}

}  // namespace bricks
