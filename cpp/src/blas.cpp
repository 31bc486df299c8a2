#include "bricks/blas.h"

#include <cblas.h>

#include <limits>

#include "bricks/errors.h"
#include "bricks/gemm_pool.h"

namespace bricks {
namespace {

blasint dim(std::int64_t v) {
  if (v < 0 || v > std::numeric_limits<blasint>::max())
    throw ValueError("matrix dimension " + std::to_string(v) +
                     " does not fit OpenBLAS's 32-bit int");
  return static_cast<blasint>(v);
}

CBLAS_TRANSPOSE op(bool t) { return t ? CblasTrans : CblasNoTrans; }

// An empty product (K = 0) still scales C by beta; OpenBLAS may not touch C then.
template <class T>
bool empty_product(std::int64_t M, std::int64_t N, std::int64_t K, T beta, T* C, std::int64_t ldc) {
  if (M == 0 || N == 0) return true;
  if (K != 0) return false;
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j)
      C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
  return true;
}

// Below this many multiply-adds a plain loop beats OpenBLAS's call overhead (and
// never wakes its threads): the tiny networks' path.
constexpr std::int64_t kSmallGemm = 2048;

template <class T>
bool small_product(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
                   const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
                   std::int64_t ldc) {
  if (M * N * K > kSmallGemm) return false;
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (std::int64_t k = 0; k < K; ++k)
        acc += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      T& c = C[i * ldc + j];
      c = alpha * acc + (beta == T(0) ? T(0) : beta * c);
    }
  return true;
}

}  // namespace

void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc) {
  if (empty_product(M, N, K, beta, C, ldc)) return;
  if (small_product(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  if (pooled_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  scipy_cblas_sgemm(CblasRowMajor, op(ta), op(tb), dim(M), dim(N), dim(K), alpha, A, dim(lda), B,
                    dim(ldb), beta, C, dim(ldc));
}

void gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
          double* C, std::int64_t ldc) {
  if (empty_product(M, N, K, beta, C, ldc)) return;
  if (small_product(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  if (pooled_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  scipy_cblas_dgemm(CblasRowMajor, op(ta), op(tb), dim(M), dim(N), dim(K), alpha, A, dim(lda), B,
                    dim(ldb), beta, C, dim(ldc));
}

// The user's count, kept by gemm_pool: OpenBLAS itself runs at 1 thread under the pool.
void set_num_threads(int n) { gemm_set_threads(n); }

int get_num_threads() { return gemm_threads(); }

std::string blas_corename() {
  const char* s = scipy_openblas_get_corename();
  return s ? s : "unknown";
}

}  // namespace bricks
