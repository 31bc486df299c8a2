// Matrix products across bricks' own threads: a large product is cut into panels of
// columns (or rows) of C, and a small persistent pool of workers takes them from an
// atomic counter, each panel one single-threaded OpenBLAS call. A worker whose core is
// busy with another process simply takes fewer panels, where OpenBLAS's own threads
// (a fixed split, synchronised per block) wait for their slowest member.
#pragma once
#include <cstdint>
#include <string>

namespace bricks {

// How a product runs at more than one thread: "pool" (default: always the pool), "auto"
// (per shape, the pool or the calling thread alone on the same panels, whichever was
// faster lately) or "openblas" (OpenBLAS's own threads, its static split).
// BRICKS_THREADING sets the mode before the first product.
void set_threading(const std::string& mode);
std::string get_threading();

// The thread count the user chose (bk.set_num_threads): the pool's size, or OpenBLAS's.
void gemm_set_threads(int n);
int gemm_threads();

// How a product is cut: `count` panels of `width` rows (dim 'M') or columns ('N') of C,
// the last one narrower; count == 1: not cut. The same cut at every thread count above 1,
// so that those give the same bits (one OpenBLAS call per panel, whoever computes it).
struct GemmSplit {
  char dim;
  std::int64_t width;
  std::int64_t count;
};
GemmSplit gemm_split(std::int64_t M, std::int64_t N, std::int64_t K, int threads);

// Runs the product's panels (on the pool, or on the caller alone: the same bits) when
// threading is not "openblas", more than one thread is
// chosen and the product is cut; false otherwise (the caller runs it as one call).
bool pooled_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                 const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
                 float* C, std::int64_t ldc);
bool pooled_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
                 const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
                 double* C, std::int64_t ldc);

// How many panels the calling thread and the workers computed since the last reset
// (tests: proof that the workers took part).
struct GemmPoolStats {
  // serial: the pool served another caller; alone: "auto" found the caller alone faster
  std::int64_t jobs, caller_panels, worker_panels, serial_jobs, alone_jobs;
};
GemmPoolStats gemm_pool_stats(bool reset);

}  // namespace bricks
