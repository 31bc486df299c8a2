#include "heap_count.h"

#include <atomic>
#include <cstdlib>
#include <new>

static std::atomic<long> g_news{0};

void* operator new(std::size_t n) {
  ++g_news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

long heap_allocations() { return g_news.load(); }
