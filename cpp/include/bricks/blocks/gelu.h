// GELU (elementwise), PyTorch's two forms:
//   "none":  y = x Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF
//   "tanh":  y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   x (N, D), y (N, D).
//   backward:  "none":  dL/dx = dy (Phi(x) + x phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
//              "tanh":  dL/dx = dy (0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx),
//                       du/dx = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   caches: a view of the input x.
#pragma once
#include <memory>
#include <string>

#include "bricks/block.h"

namespace bricks {

class GELU : public Block {
 public:
  GELU(const std::string& approximate, DType dtype);
  std::string name() const override { return "GELU"; }
  std::string approximate() const { return tanh_ ? "tanh" : "none"; }

 protected:
  std::shared_ptr<Block> make_twin() const override {
    return std::make_shared<GELU>(approximate(), dtype_);
  }
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  bool tanh_;
  Tensor x_;
};

}  // namespace bricks
