// The trainer: what it sums over its batches, the non-finite guard (the weights are
// those before a bad batch), stop requests, and no heap allocation per batch.
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bricks/blas.h"
#include "bricks/rng.h"
#include "bricks/trainer.h"
#include "check.h"
#include "fanout_net.h"
#include "heap_count.h"

using namespace bricks;
using bricks_test::FanoutNet;

namespace {

struct Data {
  Buffer X, T;
  std::vector<std::int64_t> order;
  explicit Data(std::int64_t n) : X(DType::f64, n, 3), T(DType::i64, n, 1), order(n) {
    Rng rng(7);
    for (std::int64_t i = 0; i < n * 3; ++i) X.ptr<double>()[i] = rng.uniform(-1, 1);
    for (std::int64_t i = 0; i < n; ++i) T.ptr<std::int64_t>()[i] = i % 3;
    for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  }
  std::vector<Tensor> views() const { return {X.view(), T.view()}; }
  std::int64_t n() const { return static_cast<std::int64_t>(order.size()); }
};

std::vector<double> weights(const FanoutNet& net) {
  std::vector<double> w;
  for (const auto& p : net.params())
    for (std::int64_t k = 0; k < p.value->size(); ++k) w.push_back(p.value->ptr<double>()[k]);
  return w;
}

bool all_finite(const std::vector<double>& w) {
  for (double v : w)
    if (!std::isfinite(v)) return false;
  return true;
}

const TrainOptions kArgmax{Accuracy::argmax, 1, 0.0, NonFinite::raise};

}  // namespace

TEST_CASE(trainer_sums_the_loss_and_accuracy_of_its_batches) {
  FanoutNet net;
  Trainer trainer(net.g);
  SGD frozen(net.params(), 0.0);  // lr 0: every batch sees the same model
  Data d(10);
  const auto in = d.views();
  net.g.forward(in, true, false);
  const double mean_loss = net.g.loss();
  const Tensor y = net.g.value(net.g.outputs()[0]);
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < 10; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < 3; ++j)
      if (y.ptr<double>()[i * 3 + j] > y.ptr<double>()[i * 3 + best]) best = j;
    correct += best == i % 3;
  }
  const TrainStats one = trainer.train_batches(in, d.order.data(), 10, 10, 0, 1, frozen, kArgmax);
  CHECK(one.samples == 10 && one.batches == 1 && one.skipped == 0);
  CHECK(one.correct == correct);
  CHECK_NEAR(one.loss_sum, 10 * mean_loss, 1e-12);
  // batches of 4, 4 and 2 in reverse order, trained in two calls: the same sums
  std::vector<std::int64_t> reversed(d.order.rbegin(), d.order.rend());
  TrainStats sum = trainer.train_batches(in, reversed.data(), 10, 4, 0, 1, frozen, kArgmax);
  sum += trainer.train_batches(in, reversed.data(), 10, 4, 1, 5, frozen,
                               kArgmax);  // past the end: stops
  CHECK(sum.samples == 10 && sum.batches == 3);
  CHECK(sum.correct == correct);
  CHECK_NEAR(sum.loss_sum, 10 * mean_loss, 1e-12);
  const TrainStats none =
      trainer.train_batches(in, reversed.data(), 10, 4, 0, 3, frozen, TrainOptions{});
  CHECK(none.correct == 0 && none.samples == 10);
}

TEST_CASE(trainer_gathers_each_samples_weight_with_its_row) {
  // weights follow the rows through any order: weight 0 on the last 4 samples trains
  // exactly as the first 6 alone would (one batch each, so the same summed gradient
  // up to the row order, and the same loss)
  Data d(10);
  std::vector<double> w(10, 0.0);
  for (int i = 0; i < 6; ++i) w[i] = 10.0 / 6;  // mean 1, as fit gives them
  std::vector<std::int64_t> shuffled = {7, 2, 9, 0, 5, 3, 8, 1, 6, 4}, first6 = {0, 1, 2, 3, 4, 5};
  FanoutNet a, b;
  Trainer ta(a.g), tb(b.g);
  SGD sa(a.params(), 0.5), sb(b.params(), 0.5);
  TrainOptions weighted = kArgmax;
  weighted.sample_weight = w.data();
  const auto in = d.views();
  const TrainStats st = ta.train_batches(in, shuffled.data(), 10, 10, 0, 1, sa, weighted);
  const TrainStats ref = tb.train_batches(in, first6.data(), 6, 6, 0, 1, sb, kArgmax);
  CHECK_NEAR(st.loss_sum / 10, ref.loss_sum / 6, 1e-12);
  const auto wa = weights(a), wb = weights(b);
  double worst = 0;
  for (std::size_t k = 0; k < wa.size(); ++k) worst = std::fmax(worst, std::fabs(wa[k] - wb[k]));
  CHECK(worst < 1e-12);
  // the losses forget the weights after the call: a batch of 5 rows is not refused
  // for 10 stale weights
  std::vector<std::int64_t> five = {0, 1, 2, 3, 4};
  bool ok = true;
  try {
    ta.train_batches(in, five.data(), 5, 5, 0, 1, sa, kArgmax);
  } catch (const ValueError&) {
    ok = false;
  }
  CHECK(ok);
}

TEST_CASE(trainer_guard_keeps_the_weights_of_a_non_finite_batch) {
  FanoutNet net;
  Trainer trainer(net.g);
  SGD sgd(net.params(), 0.1);
  Data d(4);
  d.X.ptr<double>()[0] = INFINITY;  // row 0: the first batch of 2 has a NaN loss
  const auto in = d.views();
  const auto before = weights(net);
  CHECK_THROWS(trainer.train_batches(in, d.order.data(), 4, 2, 0, 2, sgd, kArgmax), NonFiniteError);
  CHECK(weights(net) == before && sgd.steps() == 0);
  TrainOptions skip = kArgmax;
  skip.guard = NonFinite::skip;
  const TrainStats st = trainer.train_batches(in, d.order.data(), 4, 2, 0, 2, sgd, skip);
  CHECK(st.skipped == 1 && st.batches == 1 && st.samples == 2 && sgd.steps() == 1);
  CHECK(weights(net) != before && all_finite(weights(net)));
  // an update that overflows: put back from the trainer's backup
  d.X.ptr<double>()[0] = 0.5;
  for (std::int64_t i = 0; i < 12; ++i) d.X.ptr<double>()[i] *= 1e6;
  SGD huge(net.params(), 1e305);
  const auto good = weights(net);
  std::string what;
  try {
    trainer.train_batches(in, d.order.data(), 4, 4, 0, 1, huge, kArgmax);
  } catch (const NonFiniteError& e) {
    what = e.what();
  }
  CHECK(what.find("non-finite weights after the update") != std::string::npos);
  CHECK(weights(net) == good && huge.steps() == 0);
  TrainOptions ignore = kArgmax;
  ignore.guard = NonFinite::ignore;
  trainer.train_batches(in, d.order.data(), 4, 4, 0, 1, huge, ignore);
  CHECK(!all_finite(weights(net)));  // unguarded, as asked
}

TEST_CASE(trainer_honours_a_stop_request_before_the_update) {
  FanoutNet net;
  Trainer trainer(net.g);
  SGD sgd(net.params(), 0.1);
  Data d(8);
  const auto in = d.views();
  const auto before = weights(net);
  net.g.set_stoppable(true);
  request_stop();
  CHECK_THROWS(trainer.train_batches(in, d.order.data(), 8, 4, 0, 2, sgd, kArgmax), Interrupted);
  CHECK(weights(net) == before && sgd.steps() == 0);
  net.g.set_stoppable(false);  // a graph no Ctrl-C handler watches trains on
  const TrainStats st = trainer.train_batches(in, d.order.data(), 8, 4, 0, 2, sgd, kArgmax);
  CHECK(st.batches == 2 && sgd.steps() == 2);
  CHECK(clear_stop());  // the request was left for whoever asked
}

TEST_CASE(trainer_rejects_bad_arguments_before_training) {
  FanoutNet net;
  Trainer trainer(net.g);
  SGD sgd(net.params(), 0.1);
  Data d(4);
  const auto in = d.views();
  TrainOptions bad = kArgmax;
  bad.labels_input = 2;
  CHECK_THROWS(trainer.train_batches(in, d.order.data(), 4, 2, 0, 2, sgd, bad), ValueError);
  bad = kArgmax;
  bad.accuracy = static_cast<Accuracy>(3);
  CHECK_THROWS(trainer.train_batches(in, d.order.data(), 4, 2, 0, 2, sgd, bad), ValueError);
  bad = kArgmax;
  bad.guard = static_cast<NonFinite>(-1);
  CHECK_THROWS(trainer.train_batches(in, d.order.data(), 4, 2, 0, 2, sgd, bad), ValueError);
  CHECK_THROWS(trainer.train_batches(in, d.order.data(), 4, 0, 0, 2, sgd, kArgmax), ValueError);
  std::vector<std::int64_t> out_of_range = {0, 1, 2, 4};
  CHECK_THROWS(trainer.train_batches(in, out_of_range.data(), 4, 2, 0, 2, sgd, kArgmax),
               ValueError);
  Graph lossless(DType::f64);
  lossless.add_input(3, false);
  CHECK_THROWS(Trainer(lossless).train_batches({d.X.view()}, d.order.data(), 4, 2, 0, 2, sgd,
                                               TrainOptions{}),
               StateError);
  CHECK(sgd.steps() == 0);
}

namespace {

// An allreduce between threads standing in for MPI processes: each adds its buffer,
// all wait for the sum, and a round ends when every thread has copied it out.
struct ThreadAllreduce {
  int ranks;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> sum;
  int arrived = 0;
  bool draining = false;
  void operator()(Tensor t) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return !draining; });
    if (arrived == 0) sum.assign(static_cast<std::size_t>(t.size()), 0.0);
    for (std::int64_t i = 0; i < t.size(); ++i) sum[i] += t.ptr<double>()[i];
    if (++arrived == ranks) {
      draining = true;
      cv.notify_all();
    } else {
      cv.wait(lock, [&] { return draining; });
    }
    for (std::int64_t i = 0; i < t.size(); ++i) t.ptr<double>()[i] = sum[i];
    if (--arrived == 0) {
      draining = false;
      cv.notify_all();
    }
  }
};

}  // namespace

TEST_CASE(data_parallel_ranks_make_the_single_process_update) {
  // 10 rows: batches of 4, 4, 2 (shares 2+2, 2+2, 1+1), then batches of 1 (a rank
  // with no rows); 2 and 3 ranks against one trainer on the whole batches
  for (const std::int64_t batch : {4, 1})
    for (const int ranks : {2, 3}) {
      Data d(10);
      const auto in = d.views();
      FanoutNet single;
      SGD one(single.params(), 0.1, 0.9);
      const TrainStats ref =
          Trainer(single.g).train_batches(in, d.order.data(), 10, batch, 0, 100, one, kArgmax);
      ThreadAllreduce comm{ranks};
      const Allreduce reduce = [&comm](Tensor t) { comm(t); };
      std::vector<std::unique_ptr<FanoutNet>> nets;
      for (int r = 0; r < ranks; ++r) nets.push_back(std::make_unique<FanoutNet>());
      std::vector<TrainStats> st(ranks);
      std::vector<std::thread> threads;
      for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
          SGD opt(nets[r]->params(), 0.1, 0.9);
          TrainOptions o = kArgmax;
          o.allreduce = &reduce;
          o.rank = r;
          o.ranks = ranks;
          st[r] = Trainer(nets[r]->g).train_batches(in, d.order.data(), 10, batch, 0, 100, opt, o);
        });
      for (auto& t : threads) t.join();
      const auto w = weights(single);
      for (int r = 0; r < ranks; ++r) {
        CHECK(weights(*nets[r]) == weights(*nets[0]));  // replicas bitwise identical
        CHECK(st[r].samples == 10 && st[r].batches == ref.batches);
        CHECK(st[r].correct == ref.correct);
        CHECK_NEAR(st[r].loss_sum, ref.loss_sum, 1e-12);
      }
      const auto wr = weights(*nets[0]);
      for (std::size_t k = 0; k < w.size(); ++k) CHECK_NEAR(wr[k], w[k], 1e-12);
    }
}

TEST_CASE(data_parallel_step_rejects_shares_that_do_not_add_up) {
  Data d(6);
  FanoutNet net;
  SGD opt(net.params(), 0.1);
  const auto before = weights(net);
  // a "sum over processes" that triples rank 0's share of 3 rows: 9, not 6
  const Allreduce thrice = [](Tensor t) {
    for (std::int64_t i = 0; i < t.size(); ++i) t.ptr<double>()[i] *= 3;
  };
  TrainOptions o = kArgmax;
  o.allreduce = &thrice;
  o.ranks = 2;
  CHECK_THROWS(Trainer(net.g).train_batches(d.views(), d.order.data(), 6, 6, 0, 1, opt, o),
               StateError);
  CHECK(weights(net) == before);  // nothing updated
  o.rank = 2;                     // not one of the 2 ranks
  CHECK_THROWS(Trainer(net.g).train_batches(d.views(), d.order.data(), 6, 6, 0, 1, opt, o),
               ValueError);
}

TEST_CASE(guarded_batch_loop_allocates_nothing_per_batch) {
  set_num_threads(1);
  for (std::int64_t batch : {4, 64}) {  // the small-matrix path and the BLAS path
    FanoutNet net;
    Trainer trainer(net.g);
    SGD sgd(net.params(), 0.05, 0.9, 0.0, 1e-4, true);
    Data d(batch);
    const auto in = d.views();
    std::vector<std::int64_t> order(d.order.rbegin(), d.order.rend());
    trainer.train_batches(in, order.data(), batch, 2, 0, 2, sgd,
                          kArgmax);  // warm-up: buffers grow here
    const long before = heap_allocations();
    const TrainStats st =
        trainer.train_batches(in, order.data(), batch, 2, 0, batch / 2, sgd, kArgmax);
    CHECK(heap_allocations() == before);
    CHECK(st.batches == batch / 2);
  }
}
