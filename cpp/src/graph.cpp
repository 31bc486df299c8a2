#include "bricks/graph.h"

#include <atomic>
#include <cstring>

#include "bricks/blocks/linear.h"
#include "bricks/blocks/relu.h"
#include "bricks/blocks/sigmoid.h"
#include "bricks/blocks/tanh.h"
#include "bricks/finite.h"
#include "bricks/lock_set.h"
#include "bricks/loss.h"

namespace bricks {
namespace {
std::atomic<bool> g_stop{false}, g_stop_all{false};
inline void check_stop(bool stoppable) {
  if ((stoppable && g_stop.load(std::memory_order_relaxed)) ||
      g_stop_all.load(std::memory_order_relaxed))
    throw Interrupted("interrupted");
}
thread_local const std::string* t_running = nullptr;
const std::string k_no_node;
// Names the running node for the block's errors; restores on every exit.
struct Running {
  const std::string* prev = t_running;
  explicit Running(const std::string& name) { t_running = &name; }
  ~Running() { t_running = prev; }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
};
template <class T>
void add_into(T* dst, const T* src, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}
}  // namespace

const std::string& running_node() { return t_running ? *t_running : k_no_node; }

void request_stop() { g_stop.store(true, std::memory_order_relaxed); }
bool clear_stop() { return g_stop.exchange(false); }
void request_stop_all() { g_stop_all.store(true); }

int Graph::add_input(std::int64_t features, bool labels) {
  if (features <= 0 || (labels && features != 1))
    throw ValueError("Input: features must be positive (1 for labels), got " +
                     std::to_string(features));
  Node n;
  n.features = features;
  n.labels = labels;
  n.value.set_dtype(labels ? DType::i64 : dtype_);
  n.grad.set_dtype(dtype_);
  nodes_.push_back(std::move(n));
  input_ids_.push_back(num_nodes() - 1);
  batch_ = -1;
  return num_nodes() - 1;
}

int Graph::add_node(std::shared_ptr<Block> block, const std::vector<int>& inputs) {
  if (!block) throw ValueError("Graph: null block");
  if (block->dtype() != dtype_)
    throw TypeError(block->name() + ": dtype " + dtype_name(block->dtype()) +
                    " differs from the graph's " + dtype_name(dtype_));
  if (static_cast<int>(inputs.size()) != block->num_inputs())
    throw ValueError(block->name() + ": expected " + std::to_string(block->num_inputs()) +
                     " input(s), got " + std::to_string(inputs.size()));
  std::vector<Tensor> probe;
  for (int id : inputs) {
    if (id < 0 || id >= num_nodes())
      throw ValueError(block->name() + ": input node " + std::to_string(id) +
                       " does not precede it (graphs are built in topological order)");
    const Node& src = nodes_[id];
    probe.push_back({src.labels ? DType::i64 : dtype_, nullptr, 1, src.features});
  }
  const Shape s = block->probe_shape(probe);  // validates the wiring now
  if (scratch_.size() < inputs.size()) scratch_.resize(inputs.size());
  Node n;
  n.name = "node " + std::to_string(num_nodes());
  n.block = std::move(block);
  n.inputs = inputs;
  n.features = s.cols;
  n.value.set_dtype(dtype_);
  n.grad.set_dtype(dtype_);
  std::vector<std::mutex*> blocks(lock_order_.begin() + 1, lock_order_.end());
  blocks.push_back(&n.block->mutex());
  lock_order_ = bricks::lock_order(&mu_, std::move(blocks));
  nodes_.push_back(std::move(n));
  batch_ = -1;
  shared_params_ = -1;
  fusion_planned_ = false;
  return num_nodes() - 1;
}

void Graph::set_outputs(const std::vector<int>& ids) {
  for (int id : ids)
    if (id < 0 || id >= num_nodes()) throw ValueError("Graph: no node " + std::to_string(id));
  outputs_ = ids;
  for (auto& n : nodes_) n.for_outputs = false;
  for (int id : ids) nodes_[id].for_outputs = true;
  fusion_planned_ = false;
  for (int v = num_nodes() - 1; v >= 0; --v)
    if (nodes_[v].for_outputs)
      for (int u : nodes_[v].inputs) nodes_[u].for_outputs = true;
}

void Graph::set_node_name(int id, const std::string& name) {
  if (id < 0 || id >= num_nodes()) throw ValueError("Graph: no node " + std::to_string(id));
  nodes_[id].name = name;
}

void Graph::set_losses(const std::vector<int>& ids) {
  for (int id : ids)
    if (id < 0 || id >= num_nodes() || !nodes_[id].block || !nodes_[id].block->is_loss())
      throw ValueError("Graph: node " + std::to_string(id) + " is not a loss");
  losses_ = ids;
}

void Graph::prepare(std::int64_t batch) {
  if (batch == batch_) return;
  batch_ = grad_batch_ = -1;  // until every buffer fits
  for (auto& n : nodes_) {
    const bool loss = n.block && n.block->is_loss();
    n.shape = {loss ? 1 : batch, loss ? 1 : n.features};
    try {
      if (n.block) n.value.resize(n.shape.rows, n.shape.cols);
    } catch (const OutOfMemory& e) {
      throw OutOfMemory("Model: the activations of " + n.block->name() + " for a batch of " +
                        std::to_string(batch) + ": " + e.what() + "; use a smaller batch_size");
    }
  }
  batch_ = batch;
}

void Graph::prepare_grads() {
  if (grad_batch_ == batch_) return;
  for (auto& n : nodes_) {
    try {
      n.grad.resize(n.shape.rows, n.shape.cols);
      for (Buffer& s : scratch_) {
        s.set_dtype(dtype_);
        s.resize(n.shape.rows, n.shape.cols);  // grows to the largest node
      }
    } catch (const OutOfMemory& e) {
      throw OutOfMemory("Model: the gradients of " +
                        (n.block ? n.block->name() : std::string("an input")) + " for a batch of " +
                        std::to_string(batch_) + ": " + e.what() + "; use a smaller batch_size");
    }
  }
  grad_batch_ = batch_;
}

// Which block would reject input k of width `cols`: shapes propagated through the
// graph until a block's check fails (its message names it), for the input's error.
std::string Graph::blame_width(int k, std::int64_t rows, std::int64_t cols) const {
  std::vector<std::int64_t> width(nodes_.size());
  for (std::size_t i = 0; i < nodes_.size(); ++i) width[i] = nodes_[i].features;
  width[input_ids_.at(k)] = cols;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    if (!n.block) continue;
    std::vector<Tensor> probe;
    for (int u : n.inputs)
      probe.push_back({nodes_[u].labels ? DType::i64 : dtype_, nullptr, rows, width[u]});
    try {
      width[i] = n.block->output_shape(probe).cols;
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  return "";
}

void Graph::check_input(int k, const Tensor& t, bool copy, bool validate) {
  Node& n = nodes_[input_ids_[k]];
  const std::string who = "Model input " + std::to_string(k);
  const DType want = n.labels ? DType::i64 : dtype_;
  if (t.dtype != want)
    throw TypeError(who + ": expected " + dtype_name(want) + " data, got " + dtype_name(t.dtype));
  if (t.cols != n.features) {
    const std::string blame = n.labels ? "" : blame_width(k, t.rows, t.cols);
    throw ValueError(who + ": expected " +
                     (n.labels ? std::string("labels of shape (N,)")
                               : "shape (N, " + std::to_string(n.features) + ")") +
                     ", got (" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + ")" +
                     (blame.empty() ? "" : "; " + blame));
  }
  if (t.rows <= 0) throw ValueError(who + ": empty batch (0 rows)");
  if (validate && !n.labels) check_finite(t, who, "data");
  if (copy) {
    n.value.set_dtype(want);
    n.value.resize(t.rows, t.cols);
    std::memcpy(n.value.ptr<unsigned char>(), t.data,
                static_cast<std::size_t>(t.size()) * itemsize(want));
    n.value_view = n.value.view();
  } else {
    n.value_view = t;
  }
}

void Graph::forward(const std::vector<Tensor>& inputs, bool with_losses, bool copy_inputs,
                    bool inference) {
  run_forward(inputs, with_losses, copy_inputs, true, inference);
}

void Graph::plan_fusion() {
  const int n = num_nodes();
  fuse_into_.assign(n, -1);
  fuse_act_.assign(n, 0);
  std::vector<int> consumers(n, 0), last(n, -1);
  for (int v = 0; v < n; ++v)
    if (nodes_[v].for_outputs)
      for (int u : nodes_[v].inputs) ++consumers[u], last[u] = v;
  for (int id : outputs_) consumers[id] = -1;  // an output's own value is wanted
  for (int u = 0; u < n; ++u) {
    if (consumers[u] != 1 || !dynamic_cast<const Linear*>(nodes_[u].block.get())) continue;
    const Block* a = nodes_[last[u]].block.get();
    const Act act = dynamic_cast<const ReLU*>(a)      ? Act::relu
                    : dynamic_cast<const Sigmoid*>(a) ? Act::sigmoid
                    : dynamic_cast<const Tanh*>(a)    ? Act::tanh
                                                      : Act::none;
    if (act == Act::none) continue;
    fuse_into_[u] = last[u];
    fuse_act_[u] = static_cast<int>(act);
  }
  fusion_planned_ = true;
}

void Graph::forward_checked(const std::vector<Tensor>& batch) {
  run_forward(batch, true, false, false);
}

void Graph::run_forward(const std::vector<Tensor>& inputs, bool with_losses, bool copy_inputs,
                        bool validate, bool inference) {
  has_forward_ = false;
  inference = inference && !with_losses;
  inference_ = inference;
  if (inference && !fusion_planned_) plan_fusion();
  if (inputs.size() != input_ids_.size())
    throw ValueError("Model: expected " + std::to_string(input_ids_.size()) +
                     " input array(s), got " + std::to_string(inputs.size()));
  std::int64_t batch = -1;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Node& n = nodes_[input_ids_[k]];
    if (!with_losses && !n.for_outputs) continue;
    if (!inputs[k]) throw ValueError("Model input " + std::to_string(k) + " is needed but missing");
    if (batch >= 0 && inputs[k].rows != batch)
      throw ValueError("Model inputs have different batch sizes: " + std::to_string(batch) +
                       " and " + std::to_string(inputs[k].rows));
    batch = inputs[k].rows;
  }
  if (batch < 0) throw ValueError("Model: no input data");
  for (std::size_t k = 0; k < inputs.size(); ++k)
    if (with_losses || nodes_[input_ids_[k]].for_outputs)
      check_input(static_cast<int>(k), inputs[k], copy_inputs, validate);
  has_forward_ = false;  // until every node has run: no backward through a half-done forward
  ++forward_serial_;
  prepare(batch);
  if (inference) skip_.assign(nodes_.size(), 0);  // the nodes a fused product computed
  // An inference forward runs in eval mode (Dropout off, BatchNorm's running
  // statistics) and gives each block back the mode it had, also when a block throws.
  if (inference) {
    was_training_.assign(nodes_.size(), 0);
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].block) {
        was_training_[i] = nodes_[i].block->training();
        nodes_[i].block->set_training(false);
      }
  }
  auto restore = [&] {
    if (inference)
      for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].block) nodes_[i].block->set_training(was_training_[i]);
  };
  try {
    run_nodes(with_losses, inference);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  ran_losses_ = with_losses;
  has_forward_ = true;
}

void Graph::run_nodes(bool with_losses, bool inference) {
  for (int v = 0; v < num_nodes(); ++v) {
    Node& n = nodes_[v];
    if (!n.block || (!with_losses && !n.for_outputs)) continue;
    if (inference && skip_[v]) {
      n.block->note_uncached_forward();  // its cache is not of this forward
      continue;
    }
    in_views_.clear();
    for (int u : n.inputs)
      in_views_.push_back(nodes_[u].block ? nodes_[u].value.view() : nodes_[u].value_view);
    check_stop(stoppable_);
    Running running(n.name);
    if (inference && fuse_into_[v] >= 0) {
      // the skipped node's output, computed here; this node's own value stays unwritten
      static_cast<Linear&>(*n.block).forward_fused(in_views_[0], nodes_[fuse_into_[v]].value.view(),
                                                   static_cast<Act>(fuse_act_[v]));
      skip_[fuse_into_[v]] = 1;
      continue;
    }
    n.block->forward(in_views_.data(), n.value.view());
    n.serial = n.block->forward_serial();
  }
}

void Graph::backward(const std::vector<Tensor>& output_grads, double loss_scale,
                     bool want_input_grads) {
  if (!has_forward_) throw StateError("Model: backward called before forward");
  if (inference_)
    throw StateError(
        "Model: backward after an inference forward (predict), which keeps nothing for it; "
        "call forward first");
  // Which node values need a gradient: those leading to parameters or wanted inputs.
  need_.assign(nodes_.size(), 0);
  for (int v = 0; v < num_nodes(); ++v) {
    Node& n = nodes_[v];
    if (!n.block) {
      need_[v] = want_input_grads && !n.labels;
      continue;
    }
    bool need = !n.block->params().empty();
    for (int u : n.inputs) need = need || need_[u];
    need_[v] = need;
  }
  prepare_grads();
  for (auto& n : nodes_) n.grad_written = n.ran_backward = false;
  auto seed = [&](int id, const Tensor& g) {
    Node& n = nodes_[id];
    if (g.shape() != n.grad.shape())
      throw ValueError("Model: output gradient must have shape " + n.grad.shape().str() + ", got " +
                       g.shape().str());
    if (g.dtype != dtype_)
      throw TypeError(std::string("Model: output gradient must be ") + dtype_name(dtype_));
    check_finite(g, "Model", "output gradient");
    dispatch_float(dtype_, [&](auto zero) {
      using T = decltype(zero);
      if (n.grad_written)
        add_into(n.grad.ptr<T>(), g.ptr<T>(), g.size());
      else
        std::memcpy(n.grad.ptr<T>(), g.data, sizeof(T) * g.size());
    });
    n.grad_written = true;
  };
  for (std::size_t i = 0; i < output_grads.size() && i < outputs_.size(); ++i)
    if (output_grads[i]) seed(outputs_[i], output_grads[i]);
  if (loss_scale != 0.0) {
    if (!ran_losses_)
      throw StateError("Model: backward from the loss needs a forward with targets");
    for (int id : losses_) {
      Node& n = nodes_[id];
      dispatch_float(dtype_, [&](auto zero) {
        n.grad.ptr<decltype(zero)>()[0] = static_cast<decltype(zero)>(loss_scale);
      });
      n.grad_written = true;
    }
  }
  for (int v = num_nodes() - 1; v >= 0; --v) {
    Node& n = nodes_[v];
    if (!n.block || !n.grad_written || !need_[v]) continue;
    din_.assign(n.inputs.size(), Tensor{});
    int used_scratch = 0;
    scratch_of_.assign(n.inputs.size(), -1);
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      const int u = n.inputs[i];
      if (!need_[u]) continue;
      bool taken = nodes_[u].grad_written;
      for (std::size_t j = 0; j < i; ++j) taken = taken || n.inputs[j] == u;  // x used twice: sum
      if (!taken) {
        din_[i] = nodes_[u].grad.view();
      } else {
        Buffer& s = scratch_[used_scratch];
        s.resize(nodes_[u].grad.shape().rows, nodes_[u].grad.shape().cols);
        din_[i] = s.view();
        scratch_of_[i] = used_scratch++;
      }
    }
    check_stop(stoppable_);
    if (n.block->forward_serial() != n.serial)
      throw StateError("Model: block " + n.block->name() +
                       " ran a forward elsewhere (on its own or in "
                       "another model) since this model's forward; run the model's forward again");
    Running running(n.name);
    n.block->backward(n.grad.view(), din_.data());
    n.ran_backward = true;
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      const int u = n.inputs[i];
      if (!din_[i]) continue;
      if (scratch_of_[i] >= 0)
        dispatch_float(dtype_, [&](auto zero) {
          using T = decltype(zero);
          add_into(nodes_[u].grad.ptr<T>(), din_[i].ptr<T>(), din_[i].size());
        });
      nodes_[u].grad_written = true;
    }
  }
}

double Graph::train_step(const std::vector<Tensor>& inputs, Optimizer& opt) {
  if (losses_.empty()) throw StateError("Model: train_step needs a loss (compile the model first)");
  forward(inputs, true, false);
  backward_fresh();
  opt.step();
  return loss();
}

void Graph::backward_fresh() {
  if (shared_params_ < 0) {  // a parameter buffer used by two nodes needs accumulation
    shared_params_ = 0;
    for (std::size_t a = 0; a < nodes_.size(); ++a)
      for (std::size_t b = a + 1; b < nodes_.size(); ++b)
        if (nodes_[a].block && nodes_[b].block && !nodes_[a].block->params().empty() &&
            !nodes_[b].block->params().empty() &&
            nodes_[a].block->params()[0].value == nodes_[b].block->params()[0].value)
          shared_params_ = 1;
  }
  if (shared_params_) {
    zero_grad();
    backward({}, 1.0, false);
    return;
  }
  for (auto& n : nodes_)
    if (n.block) n.block->set_overwrite_grads(true);
  try {
    backward({}, 1.0, false);
  } catch (...) {
    for (auto& n : nodes_)
      if (n.block) n.block->set_overwrite_grads(false);
    throw;
  }
  for (auto& n : nodes_) {
    if (!n.block) continue;
    n.block->set_overwrite_grads(false);
    if (!n.ran_backward) n.block->zero_grad();  // no gradient reached it: zero, not stale
  }
}

std::int64_t Graph::check_data(const std::vector<Tensor>& data) {
  if (data.size() != input_ids_.size())
    throw ValueError("Model: expected " + std::to_string(input_ids_.size()) +
                     " data array(s), got " + std::to_string(data.size()));
  for (std::size_t k = 0; k < data.size(); ++k) {
    if (data[k].rows != data[0].rows)
      throw ValueError("Model: data arrays have different lengths: " +
                       std::to_string(data[0].rows) + " and " + std::to_string(data[k].rows));
    check_input(static_cast<int>(k), data[k], false, true);
  }
  return data.empty() ? 0 : data[0].rows;
}

void Graph::set_sample_weight(const double* w, std::int64_t n) {
  for (int id : losses_) static_cast<Loss&>(*nodes_[id].block).set_sample_weight(w, n);
}

double Graph::loss() const {
  if (!has_forward_ || !ran_losses_) throw StateError("Model: no loss computed yet");
  double s = 0;
  for (int id : losses_) s += static_cast<const Loss&>(*nodes_[id].block).value();
  return s;
}

Tensor Graph::value(int id) const {
  const Node& n = nodes_.at(id);
  return n.block ? n.value.view() : n.value_view;
}

Tensor Graph::grad(int id) const {
  const Node& n = nodes_.at(id);
  return n.grad_written ? n.grad.view() : Tensor{};
}

Shape Graph::node_shape(int id) const { return nodes_.at(id).shape; }

std::vector<std::shared_ptr<Block>> Graph::blocks() const {
  std::vector<std::shared_ptr<Block>> r;
  for (const auto& n : nodes_)
    if (n.block) r.push_back(n.block);
  return r;
}

void Graph::zero_grad() {
  for (auto& n : nodes_)
    if (n.block) n.block->zero_grad();
}

void Graph::set_training(bool on) {
  for (auto& n : nodes_)
    if (n.block) n.block->set_training(on);
}

}  // namespace bricks
