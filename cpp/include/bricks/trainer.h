// Training a graph on whole-dataset arrays: batches gathered in a given sample
// order, each run as one guarded step (forward, backward, optimizer update), with the
// loss and accuracy summed. The Graph only executes; what training keeps between
// calls (the gathered batch, the weights saved before a risky update) lives here and
// is reused, so a steady-state epoch allocates nothing per batch.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "bricks/graph.h"
#include "bricks/optim.h"

namespace bricks {

// Accuracy counted while training: none, argmax of output 0 against int64 labels,
// or output 0 thresholded against 0/1 targets (every column must match).
enum class Accuracy { none = 0, argmax = 1, threshold = 2 };
// What training does on a NaN/inf loss, gradient or updated weight: nothing
// (ignore, fastest), raise NonFiniteError, or skip the batch. raise and skip leave
// the weights and optimizer state as they were before the batch.
enum class NonFinite { ignore = 0, raise = 1, skip = 2 };

// Data-parallel training: sums a flat buffer over the processes, in place (an MPI
// allreduce). It may throw; nothing is updated then.
using Allreduce = std::function<void(Tensor flat)>;

struct TrainOptions {
  Accuracy accuracy = Accuracy::none;
  int labels_input = -1;   // the input accuracy compares output 0 with
  double threshold = 0.0;  // Accuracy::threshold: an output above it predicts 1
  NonFinite guard = NonFinite::ignore;
  // One weight per row of the data (nullptr: none), gathered with the rows, so
  // shuffling keeps each sample with its weight; every loss is given the batch's.
  const double* sample_weight = nullptr;
  // Data parallel (allreduce not null): every process calls with the same data and
  // order. With ranks > 1, process `rank` trains on rows [rank*M/ranks,
  // (rank+1)*M/ranks) of each batch of M; with ranks == 1, each on its own data.
  // The row-weighted gradient sum over the processes, divided by their rows, is the
  // one update every process makes; the loss and accuracy summed are the global ones.
  const Allreduce* allreduce = nullptr;
  std::int64_t rank = 0, ranks = 1;
};

struct TrainStats {
  double loss_sum = 0;  // sum over samples of the per-batch mean loss
  std::int64_t samples = 0, correct = 0, batches = 0, skipped = 0;
  TrainStats& operator+=(const TrainStats& o);  // an epoch is trained in chunks
};

class Trainer {
 public:
  // Calls must be serialised like the graph's own (its mutex guards our buffers too).
  explicit Trainer(Graph& graph) : graph_(graph) {}
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains on batches [first, first + count) of the sample order `order` (n entries,
  // rows of `data`, which check_data accepted: no finite-value scan per batch).
  // A stop request (graph.h) interrupts between blocks, before the batch's update.
  TrainStats train_batches(const std::vector<Tensor>& data, const std::int64_t* order,
                           std::int64_t n, std::int64_t batch_size, std::int64_t first,
                           std::int64_t count, Optimizer& opt, const TrainOptions& opts);

 private:
  // The rows of a batch into batch_views_, and (if given) their sample weights to the losses.
  void gather(const std::vector<Tensor>& data, const std::int64_t* rows, std::int64_t m,
              const double* sample_weight);
  [[noreturn]] static void throw_non_finite(const char* what, std::int64_t batch);
  // Backward and update after the forward; returns what was not finite (nullptr:
  // the step was taken), having put the weights back.
  const char* guarded_step(Optimizer& opt, double loss);
  const char* guarded_update(Optimizer& opt);  // the same, after the backward
  // One batch of data-parallel training (TrainOptions::allreduce); false: skipped.
  bool parallel_batch(const std::vector<Tensor>& data, const std::int64_t* rows, std::int64_t M,
                      std::int64_t b, Optimizer& opt, const TrainOptions& opts, TrainStats& st);
  std::int64_t count_correct(const TrainOptions& opts) const;

  struct Backup {  // weights and optimizer state before an update that might overflow
    std::vector<Buffer> bufs;
    long steps = 0;
    void save(Optimizer& opt);
    void restore(Optimizer& opt);
  };
  Graph& graph_;
  Backup backup_;
  std::vector<Buffer> batch_bufs_;  // the gathered batch, one per data array
  std::vector<Tensor> batch_views_;
  std::vector<double> batch_weight_;
  Buffer flat_;  // data parallel: gradients and batch sums, packed for the allreduce
};

}  // namespace bricks
