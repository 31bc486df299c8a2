#include "bricks/rng.h"

#include <mutex>

namespace bricks {
namespace {
std::mutex g_seed_mutex;
Rng g_seed_rng(0x5eedb71c5ULL);
}  // namespace

void manual_seed(std::uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_seed_mutex);
  g_seed_rng.reseed(seed);
}

std::uint64_t next_seed() {
  std::lock_guard<std::mutex> lock(g_seed_mutex);
  return g_seed_rng.next();
}

}  // namespace bricks
