// A small pool for the native kernels that split their own work (fused_linear.h):
// OpenBLAS's threads serve only its GEMMs. Work comes as chunks taken from an atomic
// counter, the calling thread taking its share, so a worker that is busy elsewhere
// (another process on a shared core) delays only the chunks it took.
#pragma once
#include <cstdint>

namespace bricks {

// Runs f(c) for every chunk c in [0, chunks) on up to `threads` threads (the caller
// included) and returns when all have run. While another call uses the pool (from
// another Python thread), this one runs its chunks alone. f must not throw.
// (A function pointer and its context, not std::function: no allocation per call.)
using ChunkFn = void (*)(void* ctx, std::int64_t chunk);
void parallel_chunks(std::int64_t chunks, int threads, ChunkFn f, void* ctx);

template <class F>
void parallel_chunks(std::int64_t chunks, int threads, F& f) {
  parallel_chunks(chunks, threads, [](void* c, std::int64_t i) { (*static_cast<F*>(c))(i); }, &f);
}

}  // namespace bricks
