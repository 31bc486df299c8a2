// A graph of blocks, executed natively: the lecture's backpropagation is the chain
// rule run backwards over a topological order fixed once.
//
// Nodes are added in topological order (each node's inputs were added before it).
// Every activation and gradient buffer belongs to the graph and is reused: it is
// allocated only when a batch is larger than any before. Where a value feeds several
// blocks, the gradients they send back are summed (the multivariate chain rule).
// The graph only executes: training over whole datasets is trainer.h's.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bricks/block.h"
#include "bricks/optim.h"

namespace bricks {

// Ask the stoppable graphs (those a Ctrl-C handler watches: set_stoppable) to stop
// at their next block (async-signal-safe), and clear the request (returns whether
// one was pending). A stopped graph throws Interrupted before any parameter update
// of the batch in progress. Other graphs, e.g. training in other threads, never look.
void request_stop();
bool clear_stop();
// Stop every graph at its next block, for good (the interpreter is exiting).
void request_stop_all();

// The name of the graph node whose block this thread is running (empty outside a
// graph's forward or backward): a block's errors can say where they happened.
const std::string& running_node();

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
  // The name errors give node `node` (default: "node <id>").
  void set_node_name(int node, const std::string& name);

  // Runs the nodes needed for the outputs (with_losses = false) or every node.
  // inputs[i] is a view of input node i's data (empty if not needed). With
  // copy_inputs the graph copies them, so callers may reuse their arrays before
  // backward; otherwise they must stay alive and unchanged until backward ends.
  // An `inference` forward (predict) keeps nothing for backward, which it lets the
  // graph skip: a Linear whose only consumer is a ReLU, Sigmoid or Tanh (and which is
  // no output) writes the activation's output directly (Linear::forward_fused). It
  // runs in eval mode and leaves each block in the mode it found it.
  void forward(const std::vector<Tensor>& inputs, bool with_losses, bool copy_inputs,
               bool inference = false);
  // Backpropagates from the losses (dL = loss_scale) and/or from the outputs
  // (output_grads[i] = dL/d(output i), empty to skip). Parameter gradients
  // accumulate; input gradients are computed if want_input_grads.
  void backward(const std::vector<Tensor>& output_grads, double loss_scale, bool want_input_grads);
  // forward (every node) + backward from the losses + optimizer step, after
  // zeroing the gradients. Returns the loss.
  double train_step(const std::vector<Tensor>& inputs, Optimizer& opt);

  // Checks whole-dataset inputs once (dtypes, widths, finite values, equal lengths).
  std::int64_t check_data(const std::vector<Tensor>& data);
  // forward(batch, true, false) on rows of data that check_data accepted: no second
  // scan for NaN/inf (the trainer's forward).
  void forward_checked(const std::vector<Tensor>& batch);
  // backward from the losses into fresh parameter gradients (train_step's, and the
  // trainer's): overwritten in place where no parameter is shared between nodes,
  // zeroed and accumulated otherwise.
  void backward_fresh();

  double loss() const;
  // Per-sample weights (n = the next batches' rows) for every loss (loss.h), copied;
  // nullptr goes back to unweighted.
  void set_sample_weight(const double* w, std::int64_t n);
  Tensor value(int node) const;
  Tensor grad(int node) const;  // empty if no gradient reached the node
  std::int64_t batch() const { return batch_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const std::vector<int>& inputs() const { return input_ids_; }
  bool input_is_labels(int k) const { return nodes_.at(input_ids_.at(k)).labels; }
  const std::vector<int>& outputs() const { return outputs_; }
  const std::vector<int>& losses() const { return losses_; }
  std::vector<std::shared_ptr<Block>> blocks() const;
  void zero_grad();
  void set_training(bool on);
  DType dtype() const { return dtype_; }
  Shape node_shape(int node) const;  // (batch, features) of the last forward

  // Counts forwards (Model.backward checks that none ran since its own forward, e.g.
  // a predict); calls from several Python threads take mutex() without the GIL.
  std::uint64_t forward_serial() const { return forward_serial_; }
  std::mutex& mutex() { return mu_; }
  // The graph's mutex, then every block's (lock_set.h): what a call from Python takes.
  const std::vector<std::mutex*>& lock_order() const { return lock_order_; }

  // Whether a stop request (request_stop) interrupts this graph.
  void set_stoppable(bool on) { stoppable_ = on; }

 private:
  std::string blame_width(int k, std::int64_t rows, std::int64_t cols) const;
  std::atomic<bool> stoppable_{false};  // set by the thread that runs the fit, read in it
  std::uint64_t forward_serial_ = 0;
  std::mutex mu_;
  std::vector<std::mutex*> lock_order_{&mu_};
  struct Node {
    std::shared_ptr<Block> block;  // null for inputs
    std::string name;
    std::vector<int> inputs;
    std::int64_t features = 0;
    bool labels = false;
    bool for_outputs = false;  // needed to compute the outputs
    Buffer value, grad;        // value unused for inputs passed by view
    Shape shape;               // (batch, features) of the last forward
    Tensor value_view;
    bool grad_written = false;
    bool ran_backward = false;
    std::uint64_t serial = 0;  // the block's forward_serial after this node's forward
  };
  void prepare(std::int64_t batch);  // the values' buffers, for a forward
  void prepare_grads();              // the gradients' and scratch, on the first backward
  void run_forward(const std::vector<Tensor>& inputs, bool with_losses, bool copy, bool validate,
                   bool inference = false);
  void plan_fusion();
  void run_nodes(bool with_losses, bool inference);
  void check_input(int k, const Tensor& t, bool copy, bool validate);

  DType dtype_;
  std::vector<Node> nodes_;
  std::vector<int> input_ids_, outputs_, losses_;
  std::int64_t batch_ = -1;       // batch size the buffers are shaped for
  std::int64_t grad_batch_ = -1;  // and the gradients: predicting allocates none
  int shared_params_ = -1;        // whether nodes share parameters (-1: not yet known)
  bool ran_losses_ = false, has_forward_ = false;
  bool inference_ = false;  // the last forward was an inference one: no backward
  // per node: the activation node a Linear node's product is fused into (-1: none),
  // for inference forwards; planned again after the graph changes
  std::vector<int> fuse_into_;
  std::vector<int> fuse_act_;
  std::vector<char> skip_, was_training_;
  bool fusion_planned_ = false;
  // Gradients of inputs already written (or repeated) land here first: one buffer per
  // input of the widest node (Add and Concat take any number).
  std::vector<Buffer> scratch_ = std::vector<Buffer>(2);
  std::vector<Tensor> in_views_, din_;
  std::vector<char> need_;
  std::vector<int> scratch_of_;
};

}  // namespace bricks
