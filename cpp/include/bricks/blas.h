// The one door to matrix products: OpenBLAS (scipy-openblas32) GEMM, row-major.
#pragma once
#include <cstdint>
#include <string>

namespace bricks {

// C = alpha * op(A) op(B) + beta * C, with op(X) = X or X^T; all row-major.
// op(A) is M x K, op(B) is K x N, C is M x N.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc);
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
          const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
          double* C, std::int64_t ldc);

void set_num_threads(int n);
int get_num_threads();
std::string blas_corename();

}  // namespace bricks
