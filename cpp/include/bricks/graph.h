// A graph of blocks, executed natively: the lecture's backpropagation is the chain
// rule run backwards over a topological order fixed once.
//
// Nodes are added in topological order (each node's inputs were added before it).
// Every activation and gradient buffer belongs to the graph and is reused: it is
// allocated only when a batch is larger than any before. Where a value feeds several
// blocks, the gradients they send back are summed (the multivariate chain rule).
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
  double train_step(const std::vector<Tensor>& inputs, Optimizer& opt);

  // Accuracy counted while training: none, argmax of output 0 against int64 labels
  // (input `labels_input`), or output 0 thresholded against 0/1 targets.
  enum class Accuracy { none = 0, argmax = 1, threshold = 2 };
  struct TrainStats {
    double loss_sum = 0;  // sum over samples of the per-batch mean loss
    std::int64_t samples = 0, correct = 0, batches = 0, skipped = 0;
  };
  // What training does on a NaN/inf loss, gradient or updated weight: nothing
  // (ignore, fastest), raise NonFiniteError, or skip the batch. raise and skip leave
  // the weights and optimizer state as they were before the batch.
  enum class NonFinite { ignore = 0, raise = 1, skip = 2 };
  // Checks whole-dataset inputs once (dtypes, widths, finite values, equal lengths).
  std::int64_t check_data(const std::vector<Tensor>& data);
  // Trains on batches [first, first + count) of the sample order `order` (n entries,
  // a permutation of the data's rows): each batch is gathered into graph-owned
  // buffers, then a training step runs, guarded as `guard` says.
  TrainStats train_batches(const std::vector<Tensor>& data, const std::int64_t* order,
                           std::int64_t n, std::int64_t batch_size, std::int64_t first,
                           std::int64_t count, Optimizer& opt, Accuracy acc, int labels_input,
                           double threshold, NonFinite guard);

  double loss() const;
  Tensor value(int node) const;
  Tensor grad(int node) const;  // empty if no gradient reached the node
  std::int64_t batch() const { return batch_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const std::vector<int>& inputs() const { return input_ids_; }
  bool input_is_labels(int k) const { return nodes_.at(input_ids_.at(k)).labels; }
  const std::vector<int>& outputs() const { return outputs_; }
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
    std::vector<int> inputs;
    std::int64_t features = 0;
    bool labels = false;
    bool for_outputs = false;  // needed to compute the outputs
    Buffer value, grad;        // value unused for inputs passed by view
    Tensor value_view;
    bool grad_written = false;
    bool ran_backward = false;
    std::uint64_t serial = 0;  // the block's forward_serial after this node's forward
  };
  void prepare(std::int64_t batch);
  // backward from the losses with fresh parameter gradients: overwritten in place
  // where no parameter is shared between nodes, zeroed and accumulated otherwise.
  void backward_fresh();
  void run_forward(const std::vector<Tensor>& inputs, bool with_losses, bool copy, bool validate);
  std::int64_t count_correct(Accuracy acc, int labels_input, double threshold) const;
  void check_input(int k, const Tensor& t, bool copy, bool validate);

  DType dtype_;
  std::vector<Node> nodes_;
  std::vector<int> input_ids_, outputs_, losses_;
  std::int64_t batch_ = -1;  // batch size the buffers are shaped for
  int shared_params_ = -1;   // whether nodes share parameters (-1: not yet known)
  bool ran_losses_ = false, has_forward_ = false;
  Buffer scratch_[2];
  std::vector<Tensor> in_views_, din_;
  std::vector<char> need_;
  std::vector<int> scratch_of_;
  struct Backup {  // weights and optimizer state before a guarded update
    std::vector<Buffer> bufs;
    long steps = 0;
    void save(Optimizer& opt);
    void restore(Optimizer& opt);
  } backup_;
  std::vector<Buffer> batch_bufs_;
  std::vector<Tensor> batch_views_;
};

}  // namespace bricks
