// A small pool for the native kernels that split their own work (fused_linear.h):
// OpenBLAS's threads serve only its GEMMs. Work comes as chunks taken from an atomic
// counter, the calling thread taking its share, so a worker that is busy elsewhere
// (another process on a shared core) delays only the chunks it took.
#pragma once
#include <cstdint>

namespace bricks {

// Runs f(c) for every chunk c in [0, chunks) on up to `threads` threads (the caller
// included) and returns when all have run: true if on the pool, false if the caller
// ran them alone (one thread or chunk, or another call using the pool from another
// Python thread). f must not throw. Whoever runs chunk c, f(c) is the same work, so
// results do not depend on the threads. The matrix products' panels (gemm_pool.h) and
// the small-M kernel's chunks (fused_linear.h) share this pool.
// (A function pointer and its context, not std::function: no allocation per call.)
using ChunkFn = void (*)(void* ctx, std::int64_t chunk);
bool parallel_chunks(std::int64_t chunks, int threads, ChunkFn f, void* ctx);

template <class F>
bool parallel_chunks(std::int64_t chunks, int threads, F& f) {
  return parallel_chunks(
      chunks, threads, [](void* c, std::int64_t i) { (*static_cast<F*>(c))(i); }, &f);
}

}  // namespace bricks
