#include "bricks/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "bricks/errors.h"

namespace bricks {

TrainStats& TrainStats::operator+=(const TrainStats& o) {
  loss_sum += o.loss_sum;
  samples += o.samples;
  correct += o.correct;
  batches += o.batches;
  skipped += o.skipped;
  return *this;
}

TrainStats Trainer::train_batches(const std::vector<Tensor>& data, const std::int64_t* order,
                                  std::int64_t n, std::int64_t batch_size, std::int64_t first,
                                  std::int64_t count, Optimizer& opt, const TrainOptions& opts) {
  // the enums may hold any int cast from Python
  if (opts.accuracy < Accuracy::none || opts.accuracy > Accuracy::threshold)
    throw ValueError("train_batches: bad accuracy mode");
  if (opts.guard < NonFinite::ignore || opts.guard > NonFinite::skip)
    throw ValueError("train_batches: bad non-finite mode");
  if (graph_.losses().empty())
    throw StateError("Model: training needs a loss (compile the model first)");
  if (batch_size <= 0)
    throw ValueError("Model: batch_size must be positive, got " + std::to_string(batch_size));
  if (opts.accuracy != Accuracy::none &&
      (opts.labels_input < 0 || opts.labels_input >= static_cast<int>(graph_.inputs().size())))
    throw ValueError("Model: no such labels input " + std::to_string(opts.labels_input));
  const std::int64_t rows = data.empty() ? 0 : data[0].rows;
  for (std::int64_t i = 0; i < n; ++i)
    if (order[i] < 0 || order[i] >= rows) throw ValueError("Model: sample order out of range");
  batch_bufs_.resize(data.size());
  batch_views_.resize(data.size());
  TrainStats st;
  if (opts.guard != NonFinite::ignore)
    opt.refresh_maxima();  // weights may have been set from Python
  struct Unweigh {         // the losses forget the batch's weights however the loop ends
    Graph& g;
    bool on;
    ~Unweigh() {
      if (on) g.set_sample_weight(nullptr, 0);
    }
  } unweigh{graph_, opts.sample_weight != nullptr};
  if (opts.allreduce && (opts.ranks < 1 || opts.rank < 0 || opts.rank >= opts.ranks))
    throw ValueError("train_batches: rank " + std::to_string(opts.rank) + " of " +
                     std::to_string(opts.ranks) + " processes");
  const std::int64_t nb = (n + batch_size - 1) / batch_size;
  for (std::int64_t b = first; b < first + count && b < nb; ++b) {
    const std::int64_t lo = b * batch_size, m = std::min(n, lo + batch_size) - lo;
    if (opts.allreduce) {
      if (!parallel_batch(data, order + lo, m, b, opt, opts, st)) ++st.skipped;
      continue;
    }
    gather(data, order + lo, m, opts.sample_weight);
    graph_.forward_checked(batch_views_);
    const double L = graph_.loss();
    if (opts.guard == NonFinite::ignore) {
      graph_.backward_fresh();
      opt.step();
    } else if (const char* what = guarded_step(opt, L)) {
      if (opts.guard == NonFinite::skip) {
        ++st.skipped;
        continue;
      }
      throw_non_finite(what, b);
    }
    st.loss_sum += L * static_cast<double>(m);
    st.samples += m;
    st.correct += count_correct(opts);
    ++st.batches;
  }
  return st;
}

void Trainer::gather(const std::vector<Tensor>& data, const std::int64_t* rows, std::int64_t m,
                     const double* sample_weight) {
  for (std::size_t k = 0; k < data.size(); ++k) {
    const std::size_t row_bytes = static_cast<std::size_t>(data[k].cols) * itemsize(data[k].dtype);
    batch_bufs_[k].set_dtype(data[k].dtype);
    batch_bufs_[k].resize(m, data[k].cols);  // grows only for a larger batch
    auto* dst = batch_bufs_[k].ptr<unsigned char>();
    const auto* src = static_cast<const unsigned char*>(data[k].data);
    for (std::int64_t i = 0; i < m; ++i)
      std::memcpy(dst + i * row_bytes, src + rows[i] * row_bytes, row_bytes);
    batch_views_[k] = batch_bufs_[k].view();
  }
  if (sample_weight) {  // the batch's weights, gathered with its rows, for every loss
    batch_weight_.resize(static_cast<std::size_t>(m));
    for (std::int64_t i = 0; i < m; ++i) batch_weight_[i] = sample_weight[rows[i]];
    graph_.set_sample_weight(batch_weight_.data(), m);
  }
}

void Trainer::throw_non_finite(const char* what, std::int64_t b) {
  throw NonFiniteError("Model: non-finite " + std::string(what) + " at batch " + std::to_string(b) +
                       "; the weights are those before it");
}

bool Trainer::parallel_batch(const std::vector<Tensor>& data, const std::int64_t* rows,
                             std::int64_t M, std::int64_t b, Optimizer& opt,
                             const TrainOptions& opts, TrainStats& st) {
  const std::int64_t lo = opts.rank * M / opts.ranks, m = (opts.rank + 1) * M / opts.ranks - lo;
  double L = 0;
  std::int64_t correct = 0;
  if (m > 0) {  // a non-finite loss still goes through: every process must take part
    gather(data, rows + lo, m, opts.sample_weight);
    graph_.forward_checked(batch_views_);
    L = graph_.loss();
    graph_.backward_fresh();
    correct = count_correct(opts);
  } else {
    opt.zero_grad();  // a batch smaller than the number of processes
  }
  std::int64_t total = 0;
  for (const auto& p : opt.params()) total += p.grad->size();
  flat_.set_dtype(graph_.dtype());
  flat_.resize(1, total + 3);
  // each process's gradient is its rows' mean: weighted by rows, the sum is the batch's
  dispatch_float(graph_.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* f = flat_.ptr<T>();
    const T w = static_cast<T>(m);
    for (const auto& p : opt.params()) {
      const T* g = p.grad->ptr<T>();
      for (std::int64_t i = 0; i < p.grad->size(); ++i) f[i] = g[i] * w;
      f += p.grad->size();
    }
    f[0] = w;
    f[1] = static_cast<T>(L * static_cast<double>(m));
    f[2] = static_cast<T>(correct);
  });
  (*opts.allreduce)(flat_.view());
  double rows_all = 0, loss_sum = 0, correct_all = 0;
  dispatch_float(graph_.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* f = flat_.ptr<T>();
    rows_all = static_cast<double>(f[total]);
    loss_sum = static_cast<double>(f[total + 1]);
    correct_all = static_cast<double>(f[total + 2]);
    if (!(rows_all >= 1)) return;
    const T inv = static_cast<T>(1.0 / rows_all);
    for (const auto& p : opt.params()) {
      T* g = p.grad->ptr<T>();
      for (std::int64_t i = 0; i < p.grad->size(); ++i) g[i] = f[i] * inv;
      f += p.grad->size();
    }
  });
  if (!(rows_all >= 1) || (opts.ranks > 1 && rows_all != static_cast<double>(M)))
    throw StateError("data-parallel training: the processes' shares of batch " + std::to_string(b) +
                     " add up to " + std::to_string(rows_all) + " rows, expected " +
                     std::to_string(M) +
                     " (do all processes train on the same data with the same batch size?)");
  const double Lg = loss_sum / rows_all;
  if (opts.guard == NonFinite::ignore) {
    opt.step();
  } else if (const char* what = std::isfinite(Lg) ? guarded_update(opt) : "loss") {
    if (opts.guard == NonFinite::skip) return false;
    throw_non_finite(what, b);
  }
  st.loss_sum += Lg * rows_all;
  st.samples += static_cast<std::int64_t>(rows_all);
  st.correct += static_cast<std::int64_t>(std::llround(correct_all));
  ++st.batches;
  return true;
}

const char* Trainer::guarded_step(Optimizer& opt, double loss) {
  if (!std::isfinite(loss)) return "loss";
  graph_.backward_fresh();
  return guarded_update(opt);
}

const char* Trainer::guarded_update(Optimizer& opt) {
  const double gmax = opt.grad_max();
  if (!std::isfinite(gmax)) return "gradient";
  if (opt.step_is_safe(gmax)) {  // the usual case: no copy needed
    opt.step();
    return nullptr;
  }
  backup_.save(opt);  // the update might overflow: keep the weights to put them back
  opt.step();
  opt.refresh_maxima();
  if (opt.values_finite()) return nullptr;
  backup_.restore(opt);
  opt.refresh_maxima();
  return "weights after the update (learning rate too large?)";
}

std::int64_t Trainer::count_correct(const TrainOptions& opts) const {
  if (opts.accuracy == Accuracy::none || graph_.outputs().empty()) return 0;
  const Tensor out = graph_.value(graph_.outputs()[0]);
  const Tensor t = graph_.value(graph_.inputs().at(opts.labels_input));
  std::int64_t correct = 0;
  dispatch_float(graph_.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* o = out.ptr<T>();
    for (std::int64_t i = 0; i < out.rows; ++i) {
      const T* row = o + i * out.cols;
      if (opts.accuracy == Accuracy::argmax) {
        std::int64_t best = 0;
        for (std::int64_t j = 1; j < out.cols; ++j)
          if (row[j] > row[best]) best = j;
        correct += best == t.ptr<std::int64_t>()[i];
      } else {
        bool all = true;
        for (std::int64_t j = 0; j < out.cols; ++j)
          all = all && ((row[j] > T(opts.threshold)) == (t.ptr<T>()[i * out.cols + j] > T(0.5)));
        correct += all;
      }
    }
  });
  return correct;
}

void Trainer::Backup::save(Optimizer& opt) {
  const auto& ps = opt.params();
  auto& st = opt.state();
  bufs.resize(ps.size() + st.size());
  auto copy = [](Buffer& dst, const Buffer& src) {
    dst.set_dtype(src.dtype());
    dst.resize(src.shape().rows, src.shape().cols);
    std::memcpy(dst.ptr<unsigned char>(), src.ptr<unsigned char>(),
                static_cast<std::size_t>(src.size()) * itemsize(src.dtype()));
  };
  for (std::size_t i = 0; i < ps.size(); ++i) copy(bufs[i], *ps[i].value);
  for (std::size_t i = 0; i < st.size(); ++i) copy(bufs[ps.size() + i], st[i]);
  steps = opt.steps();
}

void Trainer::Backup::restore(Optimizer& opt) {
  const auto& ps = opt.params();
  auto& st = opt.state();
  auto copy = [](Buffer& dst, const Buffer& src) {
    std::memcpy(dst.ptr<unsigned char>(), src.ptr<unsigned char>(),
                static_cast<std::size_t>(src.size()) * itemsize(src.dtype()));
  };
  for (std::size_t i = 0; i < ps.size(); ++i) copy(*ps[i].value, bufs[i]);
  for (std::size_t i = 0; i < st.size() && ps.size() + i < bufs.size(); ++i)
    copy(st[i], bufs[ps.size() + i]);
  opt.set_steps(steps);
}

}  // namespace bricks
