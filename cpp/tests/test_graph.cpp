// The graph executor: gradients of a fan-out graph against finite differences, and
// no heap allocation in the steady state of a training step.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>

#include "bricks/blas.h"
#include "bricks/blocks/cross_entropy_loss.h"
#include "bricks/blocks/hadamard.h"
#include "bricks/blocks/linear.h"
#include "bricks/blocks/relu.h"
#include "bricks/blocks/softmax.h"
#include "bricks/graph.h"
#include "bricks/rng.h"
#include "check.h"

// Count every heap allocation made through operator new in this executable.
static std::atomic<long> g_news{0};
void* operator new(std::size_t n) {
  ++g_news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace bricks;

namespace {

struct Net {
  Graph g{DType::f64};
  std::shared_ptr<Linear> l1 = std::make_shared<Linear>(3, 4, true, DType::f64, "torch", 1);
  std::shared_ptr<Linear> l2 = std::make_shared<Linear>(3, 4, true, DType::f64, "torch", 2);
  std::shared_ptr<Linear> l3 = std::make_shared<Linear>(4, 3, true, DType::f64, "torch", 3);
  int x, t;
  Net() {
    // y = Linear3(ReLU(Linear1(x)) * Softmax(Linear2(x))), loss = CE(y, t): x fans out.
    x = g.add_input(3, false);
    t = g.add_input(1, true);
    const int h = g.add_node(std::make_shared<ReLU>(DType::f64), {g.add_node(l1, {x})});
    const int s = g.add_node(std::make_shared<Softmax>(DType::f64), {g.add_node(l2, {x})});
    const int y = g.add_node(l3, {g.add_node(std::make_shared<Hadamard>(DType::f64), {h, s})});
    g.set_outputs({y});
    g.set_losses({g.add_node(std::make_shared<CrossEntropyLoss>(DType::f64), {y, t})});
  }
};

}  // namespace

TEST_CASE(graph_fanout_gradients_match_finite_differences) {
  Net net;
  Rng rng(11);
  Buffer X(DType::f64, 5, 3), T(DType::i64, 5, 1);
  for (int i = 0; i < 15; ++i) X.ptr<double>()[i] = rng.uniform(-1, 1);
  for (int i = 0; i < 5; ++i) T.ptr<std::int64_t>()[i] = i % 3;
  std::vector<Tensor> in = {X.view(), T.view()};
  net.g.zero_grad();
  net.g.forward(in, true, false);
  net.g.backward({}, 1.0, true);
  Buffer dX(DType::f64, 5, 3);
  const Tensor gx = net.g.grad(net.x);
  for (int i = 0; i < 15; ++i) dX.ptr<double>()[i] = gx.ptr<double>()[i];
  auto loss_at = [&] {
    net.g.forward(in, true, false);
    return net.g.loss();
  };
  const double h = 1e-6;
  double worst = 0;
  auto probe = [&](double& v, double analytic) {  // central difference of the loss at v
    const double keep = v;
    v = keep + h;
    const double fp = loss_at();
    v = keep - h;
    const double fm = loss_at();
    v = keep;
    worst = std::fmax(worst, std::fabs((fp - fm) / (2 * h) - analytic));
  };
  // the input: its two paths' gradients must add up
  for (int i = 0; i < 15; ++i) probe(X.ptr<double>()[i], dX.ptr<double>()[i]);
  for (auto* lin : {net.l1.get(), net.l2.get(), net.l3.get()})
    for (auto& p : lin->params())
      for (std::int64_t k = 0; k < p.value->size(); ++k) probe(p.value->ptr<double>()[k], p.grad->ptr<double>()[k]);
  CHECK(worst < 1e-7);
}

TEST_CASE(steady_state_training_step_allocates_nothing) {
  set_num_threads(1);
  for (std::int64_t batch : {4, 64}) {  // the small-matrix path and the BLAS path
    Net net;
    std::vector<Param> all;
    for (auto& b : net.g.blocks())
      for (auto& p : b->params()) all.push_back(p);
    SGD sgd(all, 0.05, 0.9, 0.0, 1e-4, true);
    Rng rng(1);
    Buffer X(DType::f64, batch, 3), T(DType::i64, batch, 1);
    for (std::int64_t i = 0; i < batch * 3; ++i) X.ptr<double>()[i] = rng.uniform(-1, 1);
    for (std::int64_t i = 0; i < batch; ++i) T.ptr<std::int64_t>()[i] = i % 3;
    std::vector<Tensor> in = {X.view(), T.view()};
    double first = net.g.train_step(in, sgd);  // warm-up: buffers grow here
    net.g.train_step(in, sgd);
    const long before = g_news.load();
    double last = 0;
    for (int k = 0; k < 20; ++k) last = net.g.train_step(in, sgd);
    CHECK(g_news.load() == before);
    CHECK(last < first);  // and it learns
    // the guarded batch loop allocates nothing per batch either
    std::vector<std::int64_t> order(batch);
    for (std::int64_t i = 0; i < batch; ++i) order[i] = batch - 1 - i;
    net.g.train_batches(in, order.data(), batch, 2, 0, 2, sgd, Graph::Accuracy::argmax, 1, 0.0,
                        Graph::NonFinite::raise);
    const long before2 = g_news.load();
    net.g.train_batches(in, order.data(), batch, 2, 0, batch / 2, sgd, Graph::Accuracy::argmax, 1,
                        0.0, Graph::NonFinite::raise);
    CHECK(g_news.load() == before2);
  }
}
