// Concat (n >= 2 inputs joined along the features):  y = [x_1 | x_2 | ... | x_n]
//   x_k (N, D_k), y (N, D_1 + ... + D_n).
//   backward:  dL/dx_k = dy[:, o_k : o_k + D_k], o_k = D_1 + ... + D_{k-1} (dy split by columns).
//   caches: nothing (the widths are the input shapes the base class records).
// The arity n is fixed at construction, as for Add.
#pragma once
#include <memory>

#include "bricks/block.h"

namespace bricks {

class Concat : public Block {
 public:
  Concat(DType dtype, int n);
  std::string name() const override { return "Concat"; }
  int num_inputs() const override { return n_; }

 protected:
  std::shared_ptr<Block> make_twin() const override { return std::make_shared<Concat>(dtype_, n_); }
  Shape infer_shape(const std::vector<Tensor>& in) const override;
  void do_forward(const Tensor* in, const Tensor& out) override;
  void do_backward(const Tensor& dy, Tensor* din) override;

 private:
  int n_;
};

}  // namespace bricks
