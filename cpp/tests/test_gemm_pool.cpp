// The pooled GEMM (gemm_pool.h) against one OpenBLAS call and a plain loop: every
// transposition, float and double, sizes around the panel edges, 1-4 threads, and
// several threads calling at once.
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bricks/blas.h"
#include "bricks/errors.h"
#include "bricks/gemm_pool.h"
#include "bricks/rng.h"
#include "check.h"

using namespace bricks;

namespace {

struct Case {
  bool ta, tb;
  std::int64_t M, N, K;
};

template <class T>
struct Operands {
  std::vector<T> A, B, C;
  std::int64_t lda, ldb;
};

template <class T>
Operands<T> operands(const Case& c, std::uint64_t seed) {
  Rng rng(seed);
  Operands<T> o;
  o.A.resize(c.M * c.K);
  o.B.resize(c.K * c.N);
  o.C.resize(c.M * c.N);
  for (auto* v : {&o.A, &o.B, &o.C})
    for (auto& x : *v) x = static_cast<T>(rng.uniform(-1, 1));
  o.lda = c.ta ? c.M : c.K;
  o.ldb = c.tb ? c.K : c.N;
  return o;
}

// One OpenBLAS call on the whole product, single-threaded (the reference of the pool).
void one_call(const Case& c, float alpha, const float* A, std::int64_t lda, const float* B,
              std::int64_t ldb, float beta, float* C) {
  scipy_cblas_sgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans,
                    c.tb ? CblasTrans : CblasNoTrans, c.M, c.N, c.K, alpha, A, lda, B, ldb, beta, C,
                    c.N);
}
void one_call(const Case& c, double alpha, const double* A, std::int64_t lda, const double* B,
              std::int64_t ldb, double beta, double* C) {
  scipy_cblas_dgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans,
                    c.tb ? CblasTrans : CblasNoTrans, c.M, c.N, c.K, alpha, A, lda, B, ldb, beta, C,
                    c.N);
}

void scipy_call(const Case& c, float alpha, const float* A, std::int64_t lda, const float* B,
                std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  scipy_cblas_sgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans,
                    c.tb ? CblasTrans : CblasNoTrans, c.M, c.N, c.K, alpha, A, lda, B, ldb, beta, C,
                    ldc);
}
void scipy_call(const Case& c, double alpha, const double* A, std::int64_t lda, const double* B,
                std::int64_t ldb, double beta, double* C, std::int64_t ldc) {
  scipy_cblas_dgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans,
                    c.tb ? CblasTrans : CblasNoTrans, c.M, c.N, c.K, alpha, A, lda, B, ldb, beta, C,
                    ldc);
}

// An independent reference: the sum in double, to rounding, on a sample of rows and
// columns (every last column: the panels' edges), so that Debug + ASan stays quick.
template <class T>
double worst_vs_loop(const Case& c, const Operands<T>& o, T alpha, T beta, const T* C) {
  double worst = 0;
  const std::int64_t di = std::max<std::int64_t>(1, c.M / 16),
                     dj = std::max<std::int64_t>(1, c.N / 48);
  for (std::int64_t i = 0; i < c.M;
       i += (i + di < c.M ? di : std::max<std::int64_t>(1, c.M - 1 - i)))
    for (std::int64_t j = 0; j < c.N; j += (j + 17 >= c.N ? 1 : std::min(dj, c.N - 17 - j))) {
      double acc = 0;
      for (std::int64_t k = 0; k < c.K; ++k)
        acc += double(c.ta ? o.A[k * o.lda + i] : o.A[i * o.lda + k]) *
               double(c.tb ? o.B[j * o.ldb + k] : o.B[k * o.ldb + j]);
      const double want = double(alpha) * acc + double(beta) * double(o.C[i * c.N + j]);
      worst = std::max(worst, std::fabs(want - double(C[i * c.N + j])) / std::sqrt(double(c.K)));
    }
  return worst;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Shapes around the panel edges (128-column minimum, 16-column strips), split along N
// and along M, and the shapes of the benchmark's large network.
std::vector<Case> cases() {
  std::vector<Case> out;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      for (std::int64_t N : {255, 256, 257, 272, 383, 784, 1000})
        out.push_back({ta, tb, 96, N, 173});
      out.push_back({ta, tb, 1000, 100, 64});  // N too narrow: cut along M
      out.push_back({ta, tb, 257, 40, 512});
      out.push_back({ta, tb, 64, 512, 128});  // exactly the smallest pooled product
    }
  out.push_back({false, true, 256, 2048, 784});    // large: first layer forward
  out.push_back({true, false, 2048, 784, 256});    // its weight gradient
  out.push_back({false, false, 256, 1024, 1024});  // an input gradient
  return out;
}

// The pool's answer: each panel of the cut as one single-threaded OpenBLAS call, in order.
template <class T>
std::vector<T> panel_by_panel(const Case& c, const Operands<T>& o, T alpha, T beta) {
  std::vector<T> C = o.C;
  const GemmSplit s = gemm_split(c.M, c.N, c.K, 2);
  for (std::int64_t p = 0; p < s.count; ++p) {
    const std::int64_t lo = p * s.width;
    Case part = c;
    if (s.dim == 'N') {
      part.N = std::min(c.N - lo, s.width);
      const T* B = c.tb ? o.B.data() + lo * o.ldb : o.B.data() + lo;
      scipy_call(part, alpha, o.A.data(), o.lda, B, o.ldb, beta, C.data() + lo, c.N);
    } else {
      part.M = std::min(c.M - lo, s.width);
      const T* A = c.ta ? o.A.data() + lo : o.A.data() + lo * o.lda;
      scipy_call(part, alpha, A, o.lda, o.B.data(), o.ldb, beta, C.data() + lo * c.N, c.N);
    }
  }
  return C;
}

// Every thread count above 1 gives the same bits, those of the panels called one by one;
// against one call on the whole product (OpenBLAS's edge kernels may round the last
// columns differently there) and a double-precision loop: to rounding.
template <class T>
void parity() {
  int checked = 0;
  for (const Case& c : cases()) {
    for (T beta : {T(0), T(1), T(0.5)}) {
      const T alpha = T(0.75);
      Operands<T> o = operands<T>(c, 11 + c.M + 7 * c.N + 3 * c.K);
      std::vector<T> one = o.C;
      one_call(c, alpha, o.A.data(), o.lda, o.B.data(), o.ldb, beta, one.data());
      const std::vector<T> panels = panel_by_panel(c, o, alpha, beta);
      for (int t = 1; t <= 4; ++t) {
        set_threading(t == 3 ? "auto" : "pool");  // the same panels either way
        set_num_threads(t);
        std::vector<T> got = o.C;
        gemm(c.ta, c.tb, c.M, c.N, c.K, alpha, o.A.data(), o.lda, o.B.data(), o.ldb, beta,
             got.data(), c.N);
        CHECK(same_bits(got, t == 1 ? one : panels));
        const double tol = sizeof(T) == 4 ? 1e-5 : 1e-13;
        CHECK(worst_vs_loop(c, o, alpha, beta, got.data()) < tol);
      }
      ++checked;
    }
  }
  CHECK(checked == static_cast<int>(cases().size()) * 3);
  set_threading("pool");
  set_num_threads(1);
}

}  // namespace

TEST_CASE(gemm_pool_split_plan) {
  // below the size or at one thread: one call
  CHECK(gemm_split(256, 2048, 2048, 1).count == 1);
  CHECK(gemm_split(16, 256, 256, 4).count == 1);
  CHECK(gemm_split(100, 100, 100000, 2).count == 1);  // neither side two panels wide
  for (int t = 2; t <= 4; ++t) {
    for (auto [M, N, K] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{256, 2048, 2048},
                           {2048, 784, 256},
                           {96, 257, 173},
                           {1000, 100, 64}}) {
      const GemmSplit s = gemm_split(M, N, K, t);
      const std::int64_t len = s.dim == 'N' ? N : M;
      CHECK(s.count >= 2);
      CHECK(s.width % 16 == 0 && s.width >= 128);
      CHECK((s.count - 1) * s.width < len && s.count * s.width >= len);  // covers, none empty
      CHECK(s.count <= 8);
      const GemmSplit two = gemm_split(M, N, K, 2);  // the same cut at every count
      CHECK(s.dim == two.dim && s.width == two.width && s.count == two.count);
    }
  }
  CHECK(gemm_split(1000, 100, 64, 2).dim == 'M');
  CHECK(gemm_split(256, 2048, 2048, 2).dim == 'N');
}

TEST_CASE(gemm_pool_parity_float) { parity<float>(); }

TEST_CASE(gemm_pool_parity_double) { parity<double>(); }

TEST_CASE(gemm_pool_threads_report_the_users_count) {
  const std::string mode = get_threading();
  for (const char* m : {"auto", "pool", "openblas"}) {
    set_threading(m);
    set_num_threads(3);
    CHECK(get_num_threads() == 3 && get_threading() == m);
    // the pool's workers call OpenBLAS single-threaded; openblas mode hands it the count
    CHECK(scipy_openblas_get_num_threads() == (std::string(m) == "openblas" ? 3 : 1));
  }
  CHECK_THROWS(set_threading("static"), ValueError);
  CHECK_THROWS(set_num_threads(0), ValueError);
  CHECK(get_num_threads() == 3);
  set_threading(mode);
  set_num_threads(1);
}

TEST_CASE(gemm_pool_openblas_mode_matches) {
  const Case c{false, true, 128, 1000, 300};
  Operands<float> o = operands<float>(c, 5);
  std::vector<float> pooled = o.C, stat = o.C;
  set_num_threads(2);
  set_threading("pool");
  gemm(c.ta, c.tb, c.M, c.N, c.K, 1.f, o.A.data(), o.lda, o.B.data(), o.ldb, 0.f, pooled.data(),
       c.N);
  set_threading("openblas");
  gemm(c.ta, c.tb, c.M, c.N, c.K, 1.f, o.A.data(), o.lda, o.B.data(), o.ldb, 0.f, stat.data(), c.N);
  set_threading("pool");
  set_num_threads(1);
  CHECK(worst_vs_loop(c, o, 1.f, 0.f, stat.data()) < 1e-5);
  CHECK(worst_vs_loop(c, o, 1.f, 0.f, pooled.data()) < 1e-5);
  set_threading("pool");
}

// Several threads multiply at once (the pool serves one, the others run their panels
// alone) while another changes the thread count: every result stays the panels' bits,
// and the workers took part.
TEST_CASE(gemm_pool_concurrent_callers) {
  set_threading("pool");  // always: "auto" may step back on a loaded machine
  set_num_threads(3);
  gemm_pool_stats(true);
  const Case c{false, false, 64, 768, 160};
  Operands<float> o = operands<float>(c, 9);
  const std::vector<float> want = panel_by_panel(c, o, 1.f, 1.f);
  std::atomic<int> bad{0}, done{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int r = 0; r < 60; ++r) {
        std::vector<float> got = o.C;
        gemm(c.ta, c.tb, c.M, c.N, c.K, 1.f, o.A.data(), o.lda, o.B.data(), o.ldb, 1.f, got.data(),
             c.N);
        if (!same_bits(got, want)) ++bad;
      }
      ++done;
    });
  ts.emplace_back([&] {
    for (int r = 0; done.load() < 4; ++r) {
      set_num_threads(2 + r % 3);
      std::this_thread::yield();
    }
  });
  for (auto& t : ts) t.join();
  CHECK(bad.load() == 0);
  const GemmPoolStats s = gemm_pool_stats(true);
  CHECK(s.jobs + s.serial_jobs == 240 && s.alone_jobs == 0);
  CHECK(s.worker_panels > 0);
  set_threading("pool");
  set_num_threads(1);
}
