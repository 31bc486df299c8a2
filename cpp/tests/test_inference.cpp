// Inference (issue 14): the small-M product against a float64 reference and the
// OpenBLAS path, on this run's instruction-set path (ctest runs it once per path),
// at 1 and 2 threads; the inference forward's fusion and its steady state.
#include <cmath>
#include <memory>
#include <vector>

#include "bricks/blas.h"
#include "bricks/blocks/linear.h"
#include "bricks/blocks/relu.h"
#include "bricks/blocks/sigmoid.h"
#include "bricks/blocks/tanh.h"
#include "bricks/errors.h"
#include "bricks/fused_linear.h"
#include "bricks/graph.h"
#include "bricks/rng.h"
#include "check.h"
#include "heap_count.h"

using namespace bricks;

namespace {

double act_of(double z, Act a) {
  switch (a) {
    case Act::relu: return z > 0 ? z : 0;
    case Act::sigmoid: return 1 / (1 + std::exp(-z));
    case Act::tanh: return std::tanh(z);
    default: return z;
  }
}

// |got - exact| <= K eps (|x| |w| + |b|) + a few eps (the activations' own ulp)
template <class T>
void check_product(std::int64_t M, std::int64_t K, std::int64_t N, Act act, Rng& rng) {
  std::vector<T> X(M * K), W(N * K), b(N), Y(M * N), Z(M * N);
  for (auto& v : X) v = static_cast<T>(rng.normal());
  for (auto& v : W) v = static_cast<T>(rng.normal());
  for (auto& v : b) v = static_cast<T>(rng.normal());
  const double eps = sizeof(T) == 4 ? 1.1920929e-7 : 2.220446049250313e-16;
  linear_forward(X.data(), M, K, W.data(), b.data(), N, Y.data(), act);
  const std::int64_t limit = small_m_limit();
  set_small_m_limit(0);  // the OpenBLAS path
  linear_forward(X.data(), M, K, W.data(), b.data(), N, Z.data(), act);
  set_small_m_limit(limit);
  double worst = 0;
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      double exact = b[j], mag = std::fabs(static_cast<double>(b[j]));
      for (std::int64_t k = 0; k < K; ++k) {
        exact += static_cast<double>(X[i * K + k]) * W[j * K + k];
        mag += std::fabs(static_cast<double>(X[i * K + k]) * W[j * K + k]);
      }
      const double tol = K * eps * mag + 8 * eps;
      const double y = Y[i * N + j], want = act_of(exact, act);
      worst = std::fmax(worst, std::fabs(y - want) / tol);
      worst = std::fmax(worst, std::fabs(y - Z[i * N + j]) / (2 * tol));
    }
  CHECK(worst <= 1.0);
}

}  // namespace

TEST_CASE(small_m_product_matches_float64_and_openblas) {
  Rng rng(5);
  const std::int64_t limit = small_m_limit();
  CHECK(limit >= 8);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (Act act : {Act::none, Act::relu, Act::sigmoid, Act::tanh})
      for (std::int64_t M = 1; M <= limit + 1; ++M) {
        check_product<float>(M, 37, 19, act, rng);  // tails of every vector width
        check_product<double>(M, 37, 19, act, rng);
        check_product<float>(M, 600, 300, act, rng);  // split over the threads
        check_product<double>(M, 600, 300, act, rng);
      }
  }
  set_num_threads(1);
}

namespace {
struct Mlp {
  Graph g{DType::f32};
  std::shared_ptr<Linear> l1 = std::make_shared<Linear>(50, 300, true, DType::f32, "torch", 1);
  std::shared_ptr<Linear> l2 = std::make_shared<Linear>(300, 40, true, DType::f32, "torch", 2);
  std::shared_ptr<Linear> l3 = std::make_shared<Linear>(40, 5, true, DType::f32, "torch", 3);
  int out;
  Mlp() {
    const int x = g.add_input(50, false);
    const int h1 = g.add_node(std::make_shared<ReLU>(DType::f32), {g.add_node(l1, {x})});
    const int h2 = g.add_node(std::make_shared<Tanh>(DType::f32), {g.add_node(l2, {h1})});
    out = g.add_node(std::make_shared<Sigmoid>(DType::f32), {g.add_node(l3, {h2})});
    g.set_outputs({out});
  }
};
}  // namespace

TEST_CASE(inference_forward_fuses_and_matches_the_plain_forward) {
  Mlp net;
  Rng rng(9);
  for (std::int64_t batch : {1, 3, 40}) {
    Buffer X(DType::f32, batch, 50);
    for (std::int64_t i = 0; i < batch * 50; ++i) X.ptr<float>()[i] = rng.uniform(-2, 2);
    net.g.forward({X.view()}, false, false);
    std::vector<float> plain(net.g.value(net.out).ptr<float>(),
                             net.g.value(net.out).ptr<float>() + batch * 5);
    net.g.forward({X.view()}, false, false, true);
    double worst = 0;
    for (std::int64_t i = 0; i < batch * 5; ++i)
      worst = std::fmax(worst, std::fabs(net.g.value(net.out).ptr<float>()[i] - plain[i]));
    CHECK(worst <= 1e-5);
    bool refused = false;  // an inference forward keeps nothing for backward
    try {
      net.g.backward({}, 1.0, false);
    } catch (const StateError&) {
      refused = true;
    }
    CHECK(refused);
  }
}

TEST_CASE(steady_state_inference_forward_allocates_nothing) {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Mlp net;
    Buffer X(DType::f32, 2, 50);
    for (int i = 0; i < 100; ++i) X.ptr<float>()[i] = 0.01f * i;
    std::vector<Tensor> in = {X.view()};
    net.g.forward(in, false, false, true);  // warm-up: buffers and the pool's threads
    net.g.forward(in, false, false, true);
    const long before = heap_allocations();
    for (int k = 0; k < 20; ++k) net.g.forward(in, false, false, true);
    CHECK(heap_allocations() == before);
  }
  set_num_threads(1);
}
