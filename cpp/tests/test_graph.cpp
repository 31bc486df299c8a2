// The graph executor: gradients of a fan-out graph against finite differences, and
// no heap allocation in the steady state of a training step.
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bricks/blas.h"
#include "bricks/blocks/add.h"
#include "bricks/blocks/concat.h"
#include "bricks/blocks/identity.h"
#include "bricks/graph.h"
#include "bricks/lock_set.h"
#include "bricks/rng.h"
#include "check.h"
#include "fanout_net.h"
#include "heap_count.h"

using namespace bricks;
using bricks_test::FanoutNet;

TEST_CASE(graph_fanout_gradients_match_finite_differences) {
  FanoutNet net;
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
      for (std::int64_t k = 0; k < p.value->size(); ++k)
        probe(p.value->ptr<double>()[k], p.grad->ptr<double>()[k]);
  CHECK(worst < 1e-7);
}

TEST_CASE(steady_state_training_step_allocates_nothing) {
  set_num_threads(1);
  for (std::int64_t batch : {4, 64}) {  // the small-matrix path and the BLAS path
    FanoutNet net;
    SGD sgd(net.params(), 0.05, 0.9, 0.0, 1e-4, true);
    Rng rng(1);
    Buffer X(DType::f64, batch, 3), T(DType::i64, batch, 1);
    for (std::int64_t i = 0; i < batch * 3; ++i) X.ptr<double>()[i] = rng.uniform(-1, 1);
    for (std::int64_t i = 0; i < batch; ++i) T.ptr<std::int64_t>()[i] = i % 3;
    std::vector<Tensor> in = {X.view(), T.view()};
    double first = net.g.train_step(in, sgd);  // warm-up: buffers grow here
    net.g.train_step(in, sgd);
    const long before = heap_allocations();
    double last = 0;
    for (int k = 0; k < 20; ++k) last = net.g.train_step(in, sgd);
    CHECK(heap_allocations() == before);
    CHECK(last < first);  // and it learns
  }
}

// An input used several times by one node (x + x + x + h), and one whose gradient is
// already written when the join's arrives: each needs a scratch buffer of its own.
TEST_CASE(graph_join_of_repeated_inputs_sums_their_gradients) {
  Graph g(DType::f64);
  const int x = g.add_input(3, false);
  const int h = g.add_node(std::make_shared<Identity>(DType::f64), {x});
  const int y = g.add_node(std::make_shared<Add>(DType::f64, 5), {x, h, x, x, h});
  g.set_outputs({y});
  Buffer X(DType::f64, 2, 3), dY(DType::f64, 2, 3);
  for (int i = 0; i < 6; ++i) {
    X.ptr<double>()[i] = i - 2.5;
    dY.ptr<double>()[i] = 0.5 * i + 1;
  }
  g.forward({X.view()}, false, false);
  for (int i = 0; i < 6; ++i) CHECK(g.value(y).ptr<double>()[i] == 5 * X.ptr<double>()[i]);
  g.backward({dY.view()}, 0.0, true);
  for (int i = 0; i < 6; ++i) CHECK(g.grad(x).ptr<double>()[i] == 5 * dY.ptr<double>()[i]);
  const int c = g.add_node(std::make_shared<Concat>(DType::f64, 4), {y, x, y, h});
  g.set_outputs({c});
  Buffer dC(DType::f64, 2, 12);
  for (int i = 0; i < 24; ++i) dC.ptr<double>()[i] = i;
  g.forward({X.view()}, false, false);
  g.backward({dC.view()}, 0.0, true);
  // dx = 5 (dC[:, 0:3] + dC[:, 6:9]) + dC[:, 3:6] + dC[:, 9:12] (the last via h)
  for (int r = 0; r < 2; ++r)
    for (int k = 0; k < 3; ++k) {
      const double* d = dC.ptr<double>() + r * 12;
      CHECK(g.grad(x).ptr<double>()[r * 3 + k] == 5 * (d[k] + d[6 + k]) + d[3 + k] + d[9 + k]);
    }
}

namespace {
// Records the node name the graph reports while it runs this block (a Python block
// names its node in its errors this way), and throws in forward when asked.
struct NodeProbe : Block {
  explicit NodeProbe() : Block(DType::f64) {}
  std::string name() const override { return "NodeProbe"; }
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<NodeProbe>(); }
  void do_forward(const Tensor* in, const Tensor& out) override {
    seen_forward = running_node();
    if (fail) throw ValueError("probe failed");
    for (std::int64_t i = 0; i < out.size(); ++i) out.ptr<double>()[i] = in[0].ptr<double>()[i];
  }
  void do_backward(const Tensor& dy, Tensor* din) override {
    seen_backward = running_node();
    for (std::int64_t i = 0; i < dy.size(); ++i) din[0].ptr<double>()[i] = dy.ptr<double>()[i];
  }
  std::string seen_forward, seen_backward;
  bool fail = false;
};
}  // namespace

TEST_CASE(running_node_names_the_node_while_its_block_runs) {
  Graph g(DType::f64);
  const int x = g.add_input(2, false);
  auto a = std::make_shared<NodeProbe>(), b = std::make_shared<NodeProbe>();
  const int na = g.add_node(a, {x}), nb = g.add_node(b, {na});
  g.set_node_name(nb, "second");
  g.set_outputs({nb});
  Buffer X(DType::f64, 3, 2), dY(DType::f64, 3, 2);
  g.forward({X.view()}, false, false);
  g.backward({dY.view()}, 0.0, true);
  CHECK(a->seen_forward == "node 1" && a->seen_backward == "node 1");  // the default: its id
  CHECK(b->seen_forward == "second" && b->seen_backward == "second");
  CHECK(running_node().empty());  // outside the graph's calls
  b->fail = true;
  bool threw = false;
  try {
    g.forward({X.view()}, false, false);
  } catch (const ValueError&) {
    threw = true;
  }
  CHECK(threw && running_node().empty());  // restored on the way out of a failing block
  bool bad_id = false;
  try {
    g.set_node_name(7, "x");
  } catch (const ValueError&) {
    bad_id = true;
  }
  CHECK(bad_id);
}

TEST_CASE(lockset_refuses_a_mutex_this_thread_already_holds) {
  std::mutex m1, m2, m3;
  const auto outer = lock_order(&m1, {&m2});
  const std::vector<std::mutex*> again{&m2}, other{&m3};
  LockSet a;
  a.lock(outer);
  CHECK(held_by_this_thread(&m1) && held_by_this_thread(&m2) && !held_by_this_thread(&m3));
  {
    LockSet b;  // what a Python block's forward calling back into its own model would take
    bool refused = false;
    try {
      b.lock(again);
    } catch (const StateError&) {
      refused = true;
    }
    CHECK(refused);
    b.lock(other);  // a mutex this thread does not hold is taken as usual
    CHECK(held_by_this_thread(&m3));
  }
  CHECK(!held_by_this_thread(&m3));
  a.unlock();
  CHECK(!held_by_this_thread(&m1) && !held_by_this_thread(&m2));
  LockSet c;
  c.lock(again);  // free again
  CHECK(held_by_this_thread(&m2));
}
