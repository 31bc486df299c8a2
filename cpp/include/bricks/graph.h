// A graph of blocks, executed natively: the lecture's backpropagation is the chain
// rule run backwards over a topological order fixed once.
//
// Nodes are added in topological order (each node's inputs were added before it).
// Every activation and gradient buffer belongs to the graph and is reused: it is
// allocated only when a batch is larger than any before. Where a value feeds several
// blocks, the gradients they send back are summed (the multivariate chain rule).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "bricks/block.h"
#include "bricks/optim.h"

namespace bricks {

class Graph {
 public:
  explicit Graph(DType dtype) : dtype_(dtype) {}

  // An input of `features` columns (int64 class labels: one column, labels = true).
  int add_input(std::int64_t features, bool labels);
  // A block applied to earlier nodes. Returns the node id.
  int add_node(std::shared_ptr<Block> block, const std::vector<int>& inputs);
  // Outputs (returned by forward) and losses (their sum is the objective).
  void set_outputs(const std::vector<int>& nodes);
  void set_losses(const std::vector<int>& nodes);

  // Runs the nodes needed for the outputs (with_losses = false) or every node.
  // inputs[i] is a view of input node i's data (empty if not needed). With
  // copy_inputs the graph copies them, so callers may reuse their arrays before
  // backward; otherwise they must stay alive and unchanged until backward ends.
  void forward(const std::vector<Tensor>& inputs, bool with_losses, bool copy_inputs);
  // Backpropagates from the losses (dL = loss_scale) and/or from the outputs
  // (output_grads[i] = dL/d(output i), empty to skip). Parameter gradients
  // accumulate; input gradients are computed if want_input_grads.
  void backward(const std::vector<Tensor>& output_grads, double loss_scale, bool want_input_grads);
  // forward (every node) + backward from the losses + optimizer step, after
  // zeroing the gradients. Returns the loss.
  double train_step(const std::vector<Tensor>& inputs, SGD& opt);

  double loss() const;
  Tensor value(int node) const;
  Tensor grad(int node) const;  // empty if no gradient reached the node
  std::int64_t batch() const { return batch_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const std::vector<int>& inputs() const { return input_ids_; }
  const std::vector<int>& outputs() const { return outputs_; }
  std::vector<std::shared_ptr<Block>> blocks() const;
  void zero_grad();
  void set_training(bool on);
  DType dtype() const { return dtype_; }
  Shape node_shape(int node) const;  // (batch, features) of the last forward

 private:
  struct Node {
    std::shared_ptr<Block> block;  // null for inputs
    std::vector<int> inputs;
    std::int64_t features = 0;
    bool labels = false;
    bool for_outputs = false;  // needed to compute the outputs
    Buffer value, grad;        // value unused for inputs passed by view
    Tensor value_view;
    bool grad_written = false;
  };
  void prepare(std::int64_t batch);
  void check_input(int k, const Tensor& t, bool copy);

  DType dtype_;
  std::vector<Node> nodes_;
  std::vector<int> input_ids_, outputs_, losses_;
  std::int64_t batch_ = -1;  // batch size the buffers are shaped for
  bool ran_losses_ = false, has_forward_ = false;
  Buffer scratch_[2];
  std::vector<Tensor> in_views_, din_;
  std::vector<char> need_;
  std::vector<int> scratch_of_;
};

}  // namespace bricks
