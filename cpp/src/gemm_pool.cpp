#include "bricks/gemm_pool.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "bricks/errors.h"
#include "bricks/parallel.h"

namespace bricks {
namespace {

// Narrower panels run OpenBLAS's kernel below its speed (it packs A again per panel).
constexpr std::int64_t kMinPanel = 128;
// Below this many multiply-adds waking a worker costs more than it saves.
constexpr std::int64_t kPoolMinMacs = std::int64_t(1) << 22;
// At most this many panels: enough that a slowed thread's share goes to the others
// (4 per thread at 2 threads), few enough that OpenBLAS's packing stays small. Not a
// function of the thread count: every count above 1 gives the same bits.
constexpr std::int64_t kMaxPanels = 8;

// "auto": per product shape, the pool's time and the caller-alone time (EWMA, this weight
// for a new sample); the faster runs, the other again every kExplore-th product of that
// shape (kExploreFar-th when one is 1.5 times the other) to follow the machine's load.
constexpr double kEwma = 0.25;
constexpr std::int64_t kExplore = 8, kExploreFar = 64;
constexpr int kShapes = 16;

enum class Mode { automatic, pool, openblas };

struct Settings {
  std::mutex m;
  Mode mode = Mode::pool;  // measured best (bench/README.md, "A busy neighbour")
  int threads = 1;
  Settings() {
    threads = std::max(1, scipy_openblas_get_num_threads());
    const char* env = std::getenv("BRICKS_THREADING");
    const std::string e = env ? env : "";
    if (e == "openblas") mode = Mode::openblas;
    if (e == "auto") mode = Mode::automatic;
    apply();
  }
  // OpenBLAS's own threads: the user's count in openblas mode, else 1 (the pool's
  // workers each call it single-threaded).
  void apply() { scipy_openblas_set_num_threads(mode == Mode::openblas ? threads : 1); }
};

Settings& settings() {
  static Settings* s = new Settings;  // never destroyed: products may run during exit
  return *s;
}

std::atomic<int> g_threads{0};  // cached user count, read per product
std::atomic<int> g_mode{0};     // Mode, read per product

void publish(const Settings& s) {
  g_threads.store(s.threads, std::memory_order_relaxed);
  g_mode.store(static_cast<int>(s.mode), std::memory_order_relaxed);
}

void ensure_init() {
  static const bool once = [] {
    Settings& s = settings();
    std::lock_guard<std::mutex> l(s.m);
    publish(s);
    return true;
  }();
  (void)once;
}

// "auto"'s memory: per product shape, the pool's and the caller-alone time.
struct Shape {
  std::int64_t key[4] = {-1, -1, -1, -1};  // M, N, K, element size
  double t_pool = 0, t_alone = 0;          // EWMA seconds; 0: not measured yet
  std::int64_t calls = 0;
  bool pool_next() {
    ++calls;
    if (t_pool == 0) return true;
    if (t_alone == 0) return false;
    const bool pool = t_pool <= t_alone;
    const bool far = std::max(t_pool, t_alone) > 1.5 * std::min(t_pool, t_alone);
    return calls % (far ? kExploreFar : kExplore) == 0 ? !pool : pool;
  }
  void record(bool pool, double t) {
    double& slot = pool ? t_pool : t_alone;
    slot = slot == 0 ? t : slot + kEwma * (t - slot);
  }
};

std::mutex g_shapes_m;
Shape g_shapes[kShapes];  // under g_shapes_m
int g_next_shape = 0;     // under g_shapes_m

Shape& shape_of(const std::int64_t (&key)[4]) {  // under g_shapes_m
  for (Shape& s : g_shapes)
    if (std::equal(key, key + 4, s.key)) return s;
  Shape& s = g_shapes[g_next_shape++ % kShapes];  // the oldest entry gives way
  s = Shape{};
  std::copy(key, key + 4, s.key);
  return s;
}

std::atomic<std::int64_t> g_jobs{0}, g_caller_panels{0}, g_worker_panels{0}, g_serial_jobs{0},
    g_alone_jobs{0};

// One product's panels on the shared pool (parallel.h): whoever takes index p computes
// panel p, so the result does not depend on which thread computed what.
struct Job {
  void (*run)(const void* ctx, std::int64_t panel);
  const void* ctx;
  std::int64_t count;
  int threads;
  std::thread::id caller;
  std::atomic<std::int64_t> by_caller{0};
  void operator()(std::int64_t panel) {
    run(ctx, panel);
    if (std::this_thread::get_id() == caller) by_caller.fetch_add(1, std::memory_order_relaxed);
  }
};

void run_job(Job& job, const std::int64_t (&key)[4], bool adapt) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  bool pool = true;
  if (adapt) {
    std::lock_guard<std::mutex> l(g_shapes_m);
    pool = shape_of(key).pool_next();
  }
  if (!pool) {
    for (std::int64_t p = 0; p < job.count; ++p) job.run(job.ctx, p);
    g_alone_jobs.fetch_add(1, std::memory_order_relaxed);
  } else if (parallel_chunks(job.count, job.threads, job)) {
    const std::int64_t mine = job.by_caller.load();
    g_jobs.fetch_add(1, std::memory_order_relaxed);
    g_caller_panels.fetch_add(mine, std::memory_order_relaxed);
    g_worker_panels.fetch_add(job.count - mine, std::memory_order_relaxed);
  } else {
    g_serial_jobs.fetch_add(1, std::memory_order_relaxed);  // the pool served another caller
    return;
  }
  if (adapt) {
    std::lock_guard<std::mutex> l(g_shapes_m);
    shape_of(key).record(pool, std::chrono::duration<double>(Clock::now() - t0).count());
  }
}

template <class T>
struct Product {
  bool ta, tb;
  std::int64_t M, N, K;
  T alpha;
  const T* A;
  std::int64_t lda;
  const T* B;
  std::int64_t ldb;
  T beta;
  T* C;
  std::int64_t ldc;
  GemmSplit split;
};

void call(const Product<float>& p, std::int64_t m, std::int64_t n, const float* A, const float* B,
          float* C) {
  scipy_cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans,
                    p.tb ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(p.K), p.alpha,
                    A, blasint(p.lda), B, blasint(p.ldb), p.beta, C, blasint(p.ldc));
}
void call(const Product<double>& p, std::int64_t m, std::int64_t n, const double* A,
          const double* B, double* C) {
  scipy_cblas_dgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans,
                    p.tb ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(p.K), p.alpha,
                    A, blasint(p.lda), B, blasint(p.ldb), p.beta, C, blasint(p.ldc));
}

// Panel i: rows (dim M) or columns (dim N) [i * width, min(len, (i + 1) * width)) of C.
template <class T>
void run_panel(const void* ctx, std::int64_t i) {
  const auto& p = *static_cast<const Product<T>*>(ctx);
  const std::int64_t lo = i * p.split.width;
  if (p.split.dim == 'N') {
    const std::int64_t n = std::min(p.N - lo, p.split.width);
    call(p, p.M, n, p.A, p.tb ? p.B + lo * p.ldb : p.B + lo, p.C + lo);
  } else {
    const std::int64_t m = std::min(p.M - lo, p.split.width);
    call(p, m, p.N, p.ta ? p.A + lo : p.A + lo * p.lda, p.B, p.C + lo * p.ldc);
  }
}

template <class T>
bool pooled(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
            std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  ensure_init();
  const Mode mode = static_cast<Mode>(g_mode.load(std::memory_order_relaxed));
  if (mode == Mode::openblas) return false;
  // Sizes past OpenBLAS's int are left to the caller's one call, which reports them.
  constexpr std::int64_t big = std::numeric_limits<blasint>::max();
  if (std::max({M, N, K, lda, ldb, ldc}) > big) return false;
  const int threads = g_threads.load(std::memory_order_relaxed);
  const GemmSplit s = gemm_split(M, N, K, threads);
  if (s.count <= 1) return false;
  const Product<T> p{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, s};
  Job job{&run_panel<T>, &p, s.count, threads, std::this_thread::get_id()};
  const std::int64_t key[4] = {M, N, K, static_cast<std::int64_t>(sizeof(T))};
  run_job(job, key, mode == Mode::automatic);
  return true;
}

}  // namespace

void set_threading(const std::string& mode) {
  Mode m;
  if (mode == "auto")
    m = Mode::automatic;
  else if (mode == "pool")
    m = Mode::pool;
  else if (mode == "openblas")
    m = Mode::openblas;
  else
    throw ValueError("set_threading: expected 'auto', 'pool' or 'openblas', got '" + mode + "'");
  ensure_init();
  Settings& s = settings();
  std::lock_guard<std::mutex> l(s.m);
  s.mode = m;
  s.apply();
  publish(s);
}

std::string get_threading() {
  ensure_init();
  switch (static_cast<Mode>(g_mode.load())) {
    case Mode::automatic: return "auto";
    case Mode::pool: return "pool";
    default: return "openblas";
  }
}

void gemm_set_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: expected n >= 1, got " + std::to_string(n));
  ensure_init();
  Settings& s = settings();
  std::lock_guard<std::mutex> l(s.m);
  s.threads = n;
  s.apply();
  publish(s);
}

int gemm_threads() {
  ensure_init();
  return g_threads.load();
}

GemmSplit gemm_split(std::int64_t M, std::int64_t N, std::int64_t K, int threads) {
  const GemmSplit whole{'N', N, 1};
  if (threads <= 1 || M * N * K < kPoolMinMacs) return whole;
  const char dim = N >= 2 * kMinPanel ? 'N' : M >= 2 * kMinPanel ? 'M' : 0;
  if (!dim) return whole;
  const std::int64_t len = dim == 'N' ? N : M;
  const std::int64_t pieces = std::min(len / kMinPanel, kMaxPanels);
  std::int64_t width = (len + pieces - 1) / pieces;
  width = (width + 15) / 16 * 16;  // whole vector-kernel strips
  return {dim, width, (len + width - 1) / width};
}

bool pooled_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                 const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta,
                 float* C, std::int64_t ldc) {
  return pooled(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool pooled_gemm(bool ta, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, double alpha,
                 const double* A, std::int64_t lda, const double* B, std::int64_t ldb, double beta,
                 double* C, std::int64_t ldc) {
  return pooled(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

GemmPoolStats gemm_pool_stats(bool reset) {
  GemmPoolStats s{g_jobs.load(), g_caller_panels.load(), g_worker_panels.load(),
                  g_serial_jobs.load(), g_alone_jobs.load()};
  if (reset) g_jobs = g_caller_panels = g_worker_panels = g_serial_jobs = g_alone_jobs = 0;
  return s;
}

}  // namespace bricks
