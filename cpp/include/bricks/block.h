// The block contract, shared by every lego piece.
//
// forward(inputs, out) computes the block's output into `out` and caches what
// backward needs (each block's header says what: views of inputs or output, or
// its own buffers). The caller keeps cached views alive and unchanged until the
// next forward.
//
// backward(dy, dinputs) is *defined* as the gradient of <out, dy> (the
// vector-Jacobian product): it writes dL/d(input i) into dinputs[i] (overwriting)
// and ADDS dL/d(parameter) into the parameter gradients, which accumulate until
// zero_grad(). A dinputs[i] with data == nullptr is not wanted (e.g. integer
// labels). backward may be called again after one forward: it gives the same
// input gradients and accumulates the parameter gradients once more. (A graph's
// training step, which would zero the gradients first anyway, may ask a block to
// overwrite them instead: set_overwrite_grads.)
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bricks/tensor.h"

namespace bricks {

struct Param {
  std::string name;
  std::shared_ptr<Buffer> value, grad;
  bool flat = false;  // a vector (e.g. a bias) stored as one row: shown as 1-D
  // > 0: after every optimizer step, each row whose L2 norm exceeds it is scaled to
  // norm max_norm (max-norm regularisation of a unit's incoming weights)
  double max_norm = 0.0;
};

// State a block keeps that is not trained (BatchNorm's running statistics): saved,
// loaded and shared like a parameter, but it has no gradient, so optimizers,
// gradient clipping and weight decay never see it.
struct StateBuffer {
  std::string name;
  std::shared_ptr<Buffer> value;
  int ndim = 2;  // as shown: 0 a scalar (1x1), 1 a vector (one row), 2 a matrix
};

class Block {
 public:
  explicit Block(DType dtype);
  virtual ~Block() = default;
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  virtual std::string name() const = 0;
  virtual int num_inputs() const { return 1; }
  // Whether input i is a (prediction, target) target that may hold int64 labels.
  virtual bool accepts_labels(int /*input*/) const { return false; }
  virtual bool is_loss() const { return false; }

  // Checks input shapes and dtypes (throws ValueError/TypeError naming the block,
  // what it expected and what came) and returns the output shape.
  Shape output_shape(const std::vector<Tensor>& inputs) const;
  // The same for probes of one row that stand for any batch: errors say N, not 1.
  Shape probe_shape(const std::vector<Tensor>& probes) const;

  // Runs the block. Inputs must have passed output_shape(); out must have its shape.
  void forward(const Tensor* inputs, const Tensor& out);
  void backward(const Tensor& dy, Tensor* dinputs);

  // A new block of the same kind whose parameters ARE this block's (same buffers,
  // gradients accumulate into the same place), as are its state buffers, but with
  // caches of its own: one weight-shared block per graph node.
  std::shared_ptr<Block> clone_shared() const;

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  std::vector<StateBuffer>& buffers() { return buffers_; }
  const std::vector<StateBuffer>& buffers() const { return buffers_; }
  void zero_grad();
  void set_training(bool on) { training_ = on; }
  void set_overwrite_grads(bool on) { overwrite_grads_ = on; }
  bool training() const { return training_; }
  DType dtype() const { return dtype_; }
  bool has_forward() const { return has_forward_; }
  // Counts this block's forwards: whoever ran one can tell whether the caches are still its own.
  std::uint64_t forward_serial() const { return forward_serial_; }
  void invalidate() { has_forward_ = false; }
  // A forward that ran without this block's own forward (an inference forward fused
  // it away): whoever cached a forward before can tell it is no longer theirs.
  void note_uncached_forward() { ++forward_serial_; }
  const std::vector<Shape>& cached_shapes() const { return in_shapes_; }
  // Serialises the native calls that touch this block (caches, gradients, weights)
  // from several threads: taken by its Runner, by every Graph that holds it and by
  // optimizers over it (see lock_set.h). Weight-shared twins share it.
  std::mutex& mutex() const { return *mu_; }

 protected:
  virtual Shape infer_shape(const std::vector<Tensor>& inputs) const;  // default: same as input 0
  virtual std::shared_ptr<Block> make_twin() const = 0;  // same configuration, fresh state
  virtual void do_forward(const Tensor* inputs, const Tensor& out) = 0;
  virtual void do_backward(const Tensor& dy, Tensor* dinputs) = 0;
  Param& add_param(const std::string& name, std::int64_t rows, std::int64_t cols);
  StateBuffer& add_buffer(const std::string& name, DType dtype, std::int64_t rows,
                          std::int64_t cols, int ndim);
  [[noreturn]] void fail(const std::string& what) const;  // throws ValueError "<name>: what"

  DType dtype_;
  std::vector<Param> params_;
  std::vector<StateBuffer> buffers_;
  bool training_ = true;
  bool overwrite_grads_ = false;  // backward writes parameter gradients instead of adding

 private:
  bool has_forward_ = false;
  std::uint64_t forward_serial_ = 0;
  std::vector<Shape> in_shapes_;
  Shape out_shape_;
  std::shared_ptr<std::mutex> mu_ = std::make_shared<std::mutex>();
};

}  // namespace bricks
