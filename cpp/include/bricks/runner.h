// Runs one block on its own, as the lecture draws it: y = forward(x), dx = backward(dy).
// forward copies the inputs and keeps the output in buffers owned here, so the
// caller may reuse or change its arrays without corrupting what backward needs.
// (Graphs do not copy: they own every buffer themselves.)
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bricks/block.h"

namespace bricks {

class Runner {
 public:
  explicit Runner(std::shared_ptr<Block> block)
      : block_(std::move(block)), lock_order_{&mu_, &block_->mutex()} {}
  // Validates the inputs (shapes, dtypes, finite values), then runs forward.
  // Returns a view of the output buffer (valid until the next forward).
  Tensor forward(const std::vector<Tensor>& inputs);
  // Shape of input i of the last forward, for the caller to allocate gradients.
  const std::vector<Shape>& input_shapes() const { return block_->cached_shapes(); }
  DType input_dtype(int i) const { return inputs_.at(i).dtype(); }
  // Validates dy, then fills dinputs (data == nullptr: not wanted).
  void backward(const Tensor& dy, std::vector<Tensor>& dinputs);
  Block& block() { return *block_; }
  // A loss block's value from the last forward, in double (the (1, 1) output is
  // rounded to the block's dtype: 8e40 would be inf in float32).
  double loss_value() const { return loss_value_; }
  // Throws StateError unless the block's caches are from this runner's last forward.
  void check_current() const;
  // Serialises calls on this runner from several Python threads (taken without the GIL).
  std::mutex& mutex() { return mu_; }
  // The runner's mutex, then the block's (lock_set.h): what a call from Python takes.
  const std::vector<std::mutex*>& lock_order() const { return lock_order_; }

 private:
  std::shared_ptr<Block> block_;
  std::vector<Buffer> inputs_;
  Buffer output_;
  std::uint64_t serial_ = 0;  // the block's forward_serial after our forward
  double loss_value_ = 0.0;
  std::mutex mu_;
  std::vector<std::mutex*> lock_order_;
};

}  // namespace bricks
