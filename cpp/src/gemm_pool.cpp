#include "bricks/gemm_pool.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "bricks/errors.h"

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

// One product's panels: whoever takes index p computes panel p, so the result does not
// depend on which thread computed what.
struct Job {
  void (*run)(const void* ctx, std::int64_t panel);
  const void* ctx;
  std::int64_t count;
  int max_workers;
  std::int64_t key[4];  // M, N, K, element size: the shape "auto" keeps times for
  std::atomic<std::int64_t> next{0};
};

class Pool {
 public:
  // Runs every panel of `job`, the calling thread taking part. Another product already
  // on the pool (a second Python thread): this one runs alone on its caller.
  // `adapt` ("auto"): the pool or the caller alone, whichever was faster for this shape.
  void run(Job& job, bool adapt) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {
      serial_jobs_.fetch_add(1, std::memory_order_relaxed);
      take(job);
      return;
    }
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    Shape* shape = adapt ? &shape_of(job) : nullptr;
    if (shape && !shape->pool_next()) {
      take(job);
      shape->record(false, std::chrono::duration<double>(Clock::now() - t0).count());
      alone_jobs_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    grow(job.max_workers);
    {
      std::lock_guard<std::mutex> l(m_);
      job_ = &job;
      ++gen_;
    }
    cv_.notify_all();
    const std::int64_t mine = take(job);
    {
      std::unique_lock<std::mutex> l(m_);
      job_ = nullptr;  // workers that wake from now on find nothing to join
      // Wait for the panels workers still compute, asleep: a worker sharing this core
      // gets it.
      done_cv_.wait(l, [&] { return joined_.load(std::memory_order_acquire) == 0; });
    }
    if (shape) shape->record(true, std::chrono::duration<double>(Clock::now() - t0).count());
    jobs_.fetch_add(1, std::memory_order_relaxed);
    caller_panels_.fetch_add(mine, std::memory_order_relaxed);
    worker_panels_.fetch_add(job.count - mine, std::memory_order_relaxed);
  }

  GemmPoolStats stats(bool reset) {
    GemmPoolStats s{jobs_.load(), caller_panels_.load(), worker_panels_.load(), serial_jobs_.load(),
                    alone_jobs_.load()};
    if (reset) jobs_ = caller_panels_ = worker_panels_ = serial_jobs_ = alone_jobs_ = 0;
    return s;
  }

 private:
  struct Shape {
    std::int64_t key[4] = {-1, -1, -1, -1};
    double t_pool = 0, t_alone = 0;  // EWMA seconds; 0: not measured yet
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

  Shape& shape_of(const Job& job) {  // under busy_
    for (Shape& s : shapes_)
      if (std::equal(job.key, job.key + 4, s.key)) return s;
    Shape& s = shapes_[next_shape_++ % kShapes];  // the oldest entry gives way
    s = Shape{};
    std::copy(job.key, job.key + 4, s.key);
    return s;
  }

  static std::int64_t take(Job& job) {
    std::int64_t n = 0;
    for (;;) {
      const std::int64_t p = job.next.fetch_add(1, std::memory_order_relaxed);
      if (p >= job.count) return n;
      job.run(job.ctx, p);
      ++n;
    }
  }

  void grow(int want) {  // under busy_: workers are only ever added, never stopped
    while (static_cast<int>(started_) < want) {
      try {
        std::thread([this] { work(); }).detach();
      } catch (const std::system_error&) {
        return;  // no more threads to be had: the caller and the workers there are do it all
      }
      ++started_;
    }
  }

  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return gen_ != seen; });
        seen = gen_;
        if (!job_ || joined_.load(std::memory_order_relaxed) >= job_->max_workers) continue;
        job = job_;
        joined_.fetch_add(1, std::memory_order_relaxed);
      }
      take(*job);
      if (joined_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> l(m_);  // under m_: the caller cannot miss it
        done_cv_.notify_all();
      }
    }
  }

  std::mutex busy_;  // one product at a time
  std::size_t started_ = 0;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  Shape shapes_[kShapes];  // under busy_
  int next_shape_ = 0;     // under busy_
  std::uint64_t gen_ = 0;  // under m_: a new job was posted
  Job* job_ = nullptr;     // under m_
  std::atomic<int> joined_{0};
  std::atomic<std::int64_t> jobs_{0}, caller_panels_{0}, worker_panels_{0}, serial_jobs_{0},
      alone_jobs_{0};
};

// The workers do not survive a fork: the child starts a new pool (the old one leaks).
Pool* g_pool = nullptr;
std::once_flag g_pool_once;

Pool& pool() {
  std::call_once(g_pool_once, [] {
    g_pool = new Pool;
    pthread_atfork(nullptr, nullptr, [] { g_pool = new Pool; });
  });
  return *g_pool;
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
  Job job;
  job.run = &run_panel<T>;
  job.ctx = &p;
  job.count = s.count;
  job.max_workers = threads - 1;
  job.key[0] = M;
  job.key[1] = N;
  job.key[2] = K;
  job.key[3] = sizeof(T);
  pool().run(job, mode == Mode::automatic);
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

GemmPoolStats gemm_pool_stats(bool reset) { return pool().stats(reset); }

}  // namespace bricks
