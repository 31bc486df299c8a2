// Optimizers update parameters in place from their accumulated gradients.
#pragma once
#include <vector>

#include "bricks/block.h"

namespace bricks {

// Stochastic gradient descent with PyTorch's torch.optim.SGD semantics:
//   g = grad + weight_decay * theta
//   momentum > 0:  buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
//                  g = g + momentum * buf if nesterov, else g = buf
//   theta <- theta - lr * g
// Parameters shared by several blocks (same buffer) are updated once.
class SGD {
 public:
  SGD(std::vector<Param> params, double lr, double momentum = 0.0, double dampening = 0.0,
      double weight_decay = 0.0, bool nesterov = false);
  void step();
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Param>& params() const { return params_; }
  // Momentum buffers, one per parameter (empty until the first step with momentum).
  std::vector<Buffer>& state() { return momentum_; }
  long steps() const { return steps_; }

 private:
  std::vector<Param> params_;
  double lr_, momentum_coef_, dampening_, weight_decay_;
  bool nesterov_;
  std::vector<Buffer> momentum_;
  long steps_ = 0;
};

}  // namespace bricks
