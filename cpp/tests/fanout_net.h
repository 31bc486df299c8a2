// The graph the executor and trainer tests share:
// y = Linear3(ReLU(Linear1(x)) * Softmax(Linear2(x))), loss = CE(y, t): x fans out.
#pragma once
#include <memory>
#include <vector>

#include "bricks/blocks/cross_entropy_loss.h"
#include "bricks/blocks/hadamard.h"
#include "bricks/blocks/linear.h"
#include "bricks/blocks/relu.h"
#include "bricks/blocks/softmax.h"
#include "bricks/graph.h"

namespace bricks_test {

struct FanoutNet {
  bricks::Graph g{bricks::DType::f64};
  std::shared_ptr<bricks::Linear> l1 =
      std::make_shared<bricks::Linear>(3, 4, true, bricks::DType::f64, "torch", 1);
  std::shared_ptr<bricks::Linear> l2 =
      std::make_shared<bricks::Linear>(3, 4, true, bricks::DType::f64, "torch", 2);
  std::shared_ptr<bricks::Linear> l3 =
      std::make_shared<bricks::Linear>(4, 3, true, bricks::DType::f64, "torch", 3);
  int x, t;
  FanoutNet() {
    using namespace bricks;
    x = g.add_input(3, false);
    t = g.add_input(1, true);
    const int h = g.add_node(std::make_shared<ReLU>(DType::f64), {g.add_node(l1, {x})});
    const int s = g.add_node(std::make_shared<Softmax>(DType::f64), {g.add_node(l2, {x})});
    const int y = g.add_node(l3, {g.add_node(std::make_shared<Hadamard>(DType::f64), {h, s})});
    g.set_outputs({y});
    g.set_losses({g.add_node(std::make_shared<CrossEntropyLoss>(DType::f64), {y, t})});
  }
  std::vector<bricks::Param> params() const {
    std::vector<bricks::Param> all;
    for (auto& b : g.blocks())
      for (auto& p : b->params()) all.push_back(p);
    return all;
  }
};

}  // namespace bricks_test
