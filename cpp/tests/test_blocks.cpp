// Every block: golden values, finite-difference Jacobians (float64, every input and
// parameter), stability, accumulation and the errors of its contract.
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "bricks/blocks/add.h"
#include "bricks/blocks/batch_norm.h"
#include "bricks/blocks/bce_loss.h"
#include "bricks/blocks/bce_with_logits_loss.h"
#include "bricks/blocks/concat.h"
#include "bricks/blocks/cross_entropy_loss.h"
#include "bricks/blocks/dropout.h"
#include "bricks/blocks/elu.h"
#include "bricks/blocks/gelu.h"
#include "bricks/blocks/hadamard.h"
#include "bricks/blocks/identity.h"
#include "bricks/blocks/layer_norm.h"
#include "bricks/blocks/leaky_relu.h"
#include "bricks/blocks/linear.h"
#include "bricks/blocks/log_softmax.h"
#include "bricks/blocks/mse_loss.h"
#include "bricks/blocks/relu.h"
#include "bricks/blocks/sigmoid.h"
#include "bricks/blocks/softmax.h"
#include "bricks/blocks/softplus.h"
#include "bricks/blocks/tanh.h"
#include "bricks/optim.h"
#include "bricks/rng.h"
#include "bricks/runner.h"
#include "check.h"

using namespace bricks;

namespace {

constexpr DType F64 = DType::f64;

Buffer random_buffer(Rng& rng, std::int64_t r, std::int64_t c, double lo, double hi,
                     DType dt = F64) {
  Buffer b(dt, r, c);
  for (std::int64_t i = 0; i < r * c; ++i) {
    if (dt == F64)
      b.ptr<double>()[i] = rng.uniform(lo, hi);
    else
      b.ptr<float>()[i] = static_cast<float>(rng.uniform(lo, hi));
  }
  return b;
}

// <forward(inputs), dy>, the scalar whose gradient backward computes.
double project(Block& b, std::vector<Buffer>& in, const Buffer& dy,
               const std::function<void()>& before) {
  std::vector<Tensor> v;
  for (auto& x : in) v.push_back(x.view());
  const Shape s = b.output_shape(v);
  Buffer out(F64, s.rows, s.cols);
  before();
  b.forward(v.data(), out.view());
  double acc = 0;
  for (std::int64_t i = 0; i < out.size(); ++i) acc += out.ptr<double>()[i] * dy.ptr<double>()[i];
  return acc;
}

// Central differences of <forward, dy> against backward for every input listed in
// `check_inputs` and every parameter. Returns the worst relative error (scale floored at 1).
double fd_error(
    Block& b, std::vector<Buffer> in, std::vector<bool> check_inputs,
    const std::function<void()>& before = [] {}) {
  Rng rng(7);
  std::vector<Tensor> v;
  for (auto& x : in) v.push_back(x.view());
  const Shape s = b.output_shape(v);
  Buffer dy = random_buffer(rng, s.rows, s.cols, -1, 1);
  Buffer out(F64, s.rows, s.cols);
  b.zero_grad();
  before();
  b.forward(v.data(), out.view());
  std::vector<Buffer> din;
  std::vector<Tensor> dv;
  for (std::size_t i = 0; i < in.size(); ++i) {
    din.emplace_back(F64, in[i].shape().rows, in[i].shape().cols);
    dv.push_back(check_inputs[i] ? din.back().view() : Tensor{});
  }
  b.backward(dy.view(), dv.data());
  const double h = 1e-6;
  double worst = 0;
  auto probe = [&](double* slot, double analytic) {
    const double keep = *slot;
    *slot = keep + h;
    const double fp = project(b, in, dy, before);
    *slot = keep - h;
    const double fm = project(b, in, dy, before);
    *slot = keep;
    const double numeric = (fp - fm) / (2 * h);
    worst = std::fmax(worst, std::fabs(numeric - analytic) / std::fmax(1.0, std::fabs(numeric)));
  };
  for (std::size_t i = 0; i < in.size(); ++i)
    if (check_inputs[i])
      for (std::int64_t k = 0; k < in[i].size(); ++k)
        probe(in[i].ptr<double>() + k, din[i].ptr<double>()[k]);
  for (auto& p : b.params())
    for (std::int64_t k = 0; k < p.value->size(); ++k)
      probe(p.value->ptr<double>() + k, p.grad->ptr<double>()[k]);
  return worst;
}

std::vector<Buffer> inputs(
    std::initializer_list<std::pair<Shape, std::pair<double, double>>> spec) {
  static Rng rng(3);
  std::vector<Buffer> r;
  for (auto& s : spec)
    r.push_back(random_buffer(rng, s.first.rows, s.first.cols, s.second.first, s.second.second));
  return r;
}

const double TOL = 1e-7;

}  // namespace

TEST_CASE(linear_gradients) {
  Linear lin(5, 3, true, F64, "glorot_uniform", 1);
  CHECK(fd_error(lin, inputs({{{4, 5}, {-1, 1}}}), {true}) < TOL);
  Linear nobias(2, 7, false, F64, "he_normal", 2);
  CHECK(nobias.params().size() == 1);
  CHECK(fd_error(nobias, inputs({{{1, 2}, {-1, 1}}}), {true}) < TOL);
}

TEST_CASE(linear_golden_and_accumulation) {
  Linear lin(2, 2, true, F64, "glorot_uniform", 1);
  double* W = lin.params()[0].value->ptr<double>();
  double* b = lin.params()[1].value->ptr<double>();
  W[0] = -1;
  W[1] = 1;
  W[2] = 1;
  W[3] = -1;  // the lecture's XOR hidden layer
  b[0] = -4;
  b[1] = -4;
  Buffer x(F64, 1, 2);
  x.ptr<double>()[0] = 1;
  x.ptr<double>()[1] = 0;
  Buffer y(F64, 1, 2), dy(F64, 1, 2), dx(F64, 1, 2);
  Tensor xv = x.view();
  lin.forward(&xv, y.view());
  CHECK_NEAR(y.ptr<double>()[0], -5.0, 1e-15);
  CHECK_NEAR(y.ptr<double>()[1], -3.0, 1e-15);
  dy.ptr<double>()[0] = 1;
  dy.ptr<double>()[1] = 2;
  Tensor dxv = dx.view();
  lin.backward(dy.view(), &dxv);
  lin.backward(dy.view(), &dxv);                                   // parameter gradients accumulate
  CHECK_NEAR(lin.params()[0].grad->ptr<double>()[0], 2.0, 1e-15);  // 2 * dy0 * x0
  CHECK_NEAR(lin.params()[1].grad->ptr<double>()[1], 4.0, 1e-15);  // 2 * dy1
  CHECK_NEAR(dx.ptr<double>()[0], 1.0, 1e-15);                     // dy W: -1 + 2
  lin.zero_grad();
  CHECK(lin.params()[0].grad->ptr<double>()[0] == 0.0);
}

TEST_CASE(linear_init_is_seeded) {
  Linear a(30, 20, true, DType::f32, "glorot_uniform", 42),
      b(30, 20, true, DType::f32, "glorot_uniform", 42);
  Linear c(30, 20, true, DType::f32, "glorot_uniform", 43);
  bool same = true, differ = false, in_range = true;
  const double lim = std::sqrt(6.0 / 50);
  for (int i = 0; i < 600; ++i) {
    const float wa = a.params()[0].value->ptr<float>()[i];
    same = same && wa == b.params()[0].value->ptr<float>()[i];
    differ = differ || wa != c.params()[0].value->ptr<float>()[i];
    in_range = in_range && std::fabs(wa) <= lim;
  }
  CHECK(same);
  CHECK(differ);
  CHECK(in_range);
  CHECK_THROWS(Linear(3, 2, true, F64, "nonsense", 1), ValueError);
  CHECK_THROWS(Linear(0, 2, true, F64, "torch", 1), ValueError);
}

TEST_CASE(activation_gradients) {
  ReLU relu(F64);
  // away from the kink at 0
  auto x = inputs({{{3, 4}, {0.1, 1}}});
  for (std::int64_t i = 0; i < 12; i += 2) x[0].ptr<double>()[i] *= -1;
  CHECK(fd_error(relu, std::move(x), {true}) < TOL);
  Sigmoid sig(F64);
  CHECK(fd_error(sig, inputs({{{3, 4}, {-4, 4}}}), {true}) < TOL);
  Tanh th(F64);
  CHECK(fd_error(th, inputs({{{3, 4}, {-3, 3}}}), {true}) < TOL);
  Softmax sm(F64);
  CHECK(fd_error(sm, inputs({{{3, 5}, {-3, 3}}}), {true}) < TOL);
  LogSoftmax lsm(F64);
  CHECK(fd_error(lsm, inputs({{{3, 5}, {-3, 3}}}), {true}) < TOL);
  Hadamard had(F64);
  CHECK(fd_error(had, inputs({{{2, 3}, {-2, 2}}, {{2, 3}, {-2, 2}}}), {true, true}) < TOL);
}

TEST_CASE(activation_golden) {
  Buffer x(F64, 1, 3), y(F64, 1, 3);
  x.ptr<double>()[0] = 1;
  x.ptr<double>()[1] = 2;
  x.ptr<double>()[2] = 3;
  Tensor xv = x.view();
  Softmax sm(F64);
  sm.forward(&xv, y.view());
  CHECK_NEAR(y.ptr<double>()[0], 0.09003057317038046, 1e-14);
  CHECK_NEAR(y.ptr<double>()[2], 0.6652409557748219, 1e-14);
  Sigmoid sig(F64);
  sig.forward(&xv, y.view());
  CHECK_NEAR(y.ptr<double>()[0], 0.7310585786300049, 1e-14);
  Tanh th(F64);
  th.forward(&xv, y.view());
  CHECK_NEAR(y.ptr<double>()[1], 0.9640275800758169, 1e-14);
}

TEST_CASE(stable_at_large_inputs) {
  Buffer x(DType::f32, 1, 3), y(DType::f32, 1, 3);
  x.ptr<float>()[0] = 1e4f;
  x.ptr<float>()[1] = -1e4f;
  x.ptr<float>()[2] = 0;
  Tensor xv = x.view();
  Softmax sm(DType::f32);
  sm.forward(&xv, y.view());
  CHECK(y.ptr<float>()[0] == 1.0f && y.ptr<float>()[1] == 0.0f);
  LogSoftmax lsm(DType::f32);
  lsm.forward(&xv, y.view());
  CHECK(std::isfinite(y.ptr<float>()[1]));
  CHECK_NEAR(y.ptr<float>()[1], -2e4, 1e-6);
  Sigmoid sig(DType::f32);
  sig.forward(&xv, y.view());
  CHECK(y.ptr<float>()[0] == 1.0f && y.ptr<float>()[1] == 0.0f && y.ptr<float>()[2] == 0.5f);
}

TEST_CASE(dropout_contract) {
  CHECK_THROWS(Dropout(1.0, F64, 1), ValueError);
  CHECK_THROWS(Dropout(-0.1, F64, 1), ValueError);
  Dropout d(0.3, F64, 9);
  // The same mask for every forward of the check: reseed before each.
  CHECK(fd_error(d, inputs({{{4, 6}, {-1, 1}}}), {true}, [&] { d.reseed(5); }) < TOL);
  Buffer x(F64, 200, 100), y(F64, 200, 100);
  for (std::int64_t i = 0; i < x.size(); ++i) x.ptr<double>()[i] = 1.0;
  Tensor xv = x.view();
  d.forward(&xv, y.view());
  double kept = 0, sum = 0;
  for (std::int64_t i = 0; i < y.size(); ++i) {
    kept += y.ptr<double>()[i] != 0.0;
    sum += y.ptr<double>()[i];
    CHECK(y.ptr<double>()[i] == 0.0 || std::fabs(y.ptr<double>()[i] - 1 / 0.7) < 1e-15);
  }
  CHECK(std::fabs(kept / y.size() - 0.7) < 0.02);
  CHECK(std::fabs(sum / y.size() - 1.0) < 0.03);  // inverted dropout keeps the mean
  d.set_training(false);
  d.forward(&xv, y.view());
  CHECK(y.ptr<double>()[0] == 1.0 && y.ptr<double>()[12345] == 1.0);
}

TEST_CASE(loss_gradients_into_both_inputs) {
  MSELoss mse(F64);
  CHECK(fd_error(mse, inputs({{{3, 4}, {-1, 1}}, {{3, 4}, {-1, 1}}}), {true, true}) < TOL);
  BCELoss bce(F64);
  CHECK(fd_error(bce, inputs({{{3, 4}, {0.1, 0.9}}, {{3, 4}, {0, 1}}}), {true, true}) < TOL);
  BCEWithLogitsLoss bcel(F64);
  CHECK(fd_error(bcel, inputs({{{3, 4}, {-3, 3}}, {{3, 4}, {0, 1}}}), {true, true}) < TOL);
  CrossEntropyLoss ce(F64);
  CHECK(fd_error(ce, inputs({{{3, 5}, {-3, 3}}, {{3, 5}, {0, 1}}}), {true, true}) < TOL);
}

TEST_CASE(cross_entropy_labels) {
  CrossEntropyLoss ce(F64);
  Buffer x(F64, 2, 3), y(DType::i64, 2, 1), out(F64, 1, 1), dy(F64, 1, 1), dx(F64, 2, 3);
  const double xs[] = {1, 2, 3, 0, 0, 0};
  for (int i = 0; i < 6; ++i) x.ptr<double>()[i] = xs[i];
  y.ptr<std::int64_t>()[0] = 2;
  y.ptr<std::int64_t>()[1] = 0;
  Tensor in[2] = {x.view(), y.view()};
  CHECK(ce.output_shape({in[0], in[1]}) == (Shape{1, 1}));
  ce.forward(in, out.view());
  const double expect = -(std::log(0.6652409557748219) + std::log(1.0 / 3)) / 2;
  CHECK_NEAR(out.ptr<double>()[0], expect, 1e-14);
  dy.ptr<double>()[0] = 1;
  Tensor d[2] = {dx.view(), Tensor{}};
  ce.backward(dy.view(), d);
  CHECK_NEAR(dx.ptr<double>()[2], (0.6652409557748219 - 1) / 2, 1e-14);
  CHECK_NEAR(dx.ptr<double>()[4], (1.0 / 3) / 2, 1e-14);
  y.ptr<std::int64_t>()[1] = 3;
  CHECK_THROWS(ce.forward(in, out.view()), ValueError);
  CHECK(!ce.has_forward());  // a failed forward leaves no stale cache
  CHECK_THROWS(ce.backward(dy.view(), d), StateError);
}

TEST_CASE(sample_weights_scale_each_sample_and_its_gradients) {
  // each loss with weights w: the value is sum_i w_i L(row i) (row i alone has N = 1)
  // / N, and the finite-difference Jacobians of both inputs stay exact
  const std::vector<double> w = {0.5, 0.0, 2.0};
  auto check = [&](Loss& loss, std::vector<Buffer> in, bool labels) {
    Buffer out(F64, 1, 1);
    std::vector<Tensor> v = {in[0].view(), in[1].view()};
    loss.set_sample_weight(w.data(), 3);
    loss.forward(v.data(), out.view());
    const double weighted = out.ptr<double>()[0];
    loss.set_sample_weight(nullptr, 0);
    double expect = 0;
    for (int i = 0; i < 3; ++i) {
      std::vector<Tensor> row;
      for (auto& b : in) {
        const std::size_t bytes = static_cast<std::size_t>(b.shape().cols) * itemsize(b.dtype());
        row.push_back({b.dtype(), b.ptr<unsigned char>() + i * bytes, 1, b.shape().cols});
      }
      loss.forward(row.data(), out.view());
      expect += w[i] * out.ptr<double>()[0];
    }
    CHECK_NEAR(weighted, expect / 3, 1e-13);
    loss.set_sample_weight(w.data(), 3);
    CHECK(fd_error(loss, std::move(in), {true, !labels}) < TOL);
    loss.set_sample_weight(nullptr, 0);
  };
  MSELoss mse(F64);
  check(mse, inputs({{{3, 4}, {-1, 1}}, {{3, 4}, {-1, 1}}}), false);
  BCELoss bce(F64);
  check(bce, inputs({{{3, 4}, {0.1, 0.9}}, {{3, 4}, {0, 1}}}), false);
  BCEWithLogitsLoss bcel(F64);
  check(bcel, inputs({{{3, 4}, {-3, 3}}, {{3, 4}, {0, 1}}}), false);
  CrossEntropyLoss ce(F64);
  check(ce, inputs({{{3, 5}, {-3, 3}}, {{3, 5}, {0, 1}}}), false);
  std::vector<Buffer> lab = inputs({{{3, 5}, {-3, 3}}});
  lab.emplace_back(DType::i64, 3, 1);
  for (int i = 0; i < 3; ++i) lab[1].ptr<std::int64_t>()[i] = (2 * i + 1) % 5;
  check(ce, std::move(lab), true);
  // weights for another batch size, or negative ones, are errors naming the block
  mse.set_sample_weight(w.data(), 2);
  Buffer x(F64, 3, 4), t(F64, 3, 4), out(F64, 1, 1);
  Tensor v[2] = {x.view(), t.view()};
  CHECK_THROWS(mse.forward(v, out.view()), ValueError);
  const double bad[] = {1.0, -1.0};
  CHECK_THROWS(mse.set_sample_weight(bad, 2), ValueError);
}

TEST_CASE(cross_entropy_class_weights_are_torchs_weighted_mean) {
  const std::vector<double> cw = {0.5, 2.0, 0.0};
  CrossEntropyLoss ce(F64, cw);
  Buffer x(F64, 2, 3), y(DType::i64, 2, 1), out(F64, 1, 1);
  const double xs[] = {1, 2, 3, 0, 0, 0};
  for (int i = 0; i < 6; ++i) x.ptr<double>()[i] = xs[i];
  y.ptr<std::int64_t>()[0] = 1;
  y.ptr<std::int64_t>()[1] = 0;
  Tensor in[2] = {x.view(), y.view()};
  ce.forward(in, out.view());
  const double ls1 = 2 - std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  CHECK_NEAR(out.ptr<double>()[0], -(2.0 * ls1 + 0.5 * std::log(1.0 / 3)) / 2.5, 1e-14);
  std::vector<Buffer> lab = inputs({{{4, 3}, {-3, 3}}});
  lab.emplace_back(DType::i64, 4, 1);
  for (int i = 0; i < 4; ++i) lab[1].ptr<std::int64_t>()[i] = i % 3;
  CHECK(fd_error(ce, std::move(lab), {true, false}) < TOL);
  CHECK(fd_error(ce, inputs({{{4, 3}, {-3, 3}}, {{4, 3}, {0, 1}}}), {true, true}) < TOL);
  // a batch of weight-0 classes only: no loss and no gradient (not 0/0)
  y.ptr<std::int64_t>()[0] = y.ptr<std::int64_t>()[1] = 2;
  ce.forward(in, out.view());
  CHECK(out.ptr<double>()[0] == 0.0);
  Buffer wrong(F64, 2, 4);
  CHECK_THROWS(ce.output_shape({wrong.view(), y.view()}), ValueError);  // 3 weights, 4 classes
  CHECK_THROWS(CrossEntropyLoss(F64, {0.0, 0.0}), ValueError);
  CHECK_THROWS(CrossEntropyLoss(F64, {1.0, NAN}), ValueError);
}

TEST_CASE(errors_name_the_block) {
  Linear lin(4, 2, true, F64, "torch", 1);
  Buffer x(F64, 3, 5);
  try {
    lin.output_shape({x.view()});
    CHECK(false);
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("Linear(4, 2)") != std::string::npos);
    CHECK(std::string(e.what()).find("(3, 5)") != std::string::npos);
  }
  Buffer xf(DType::f32, 3, 4);
  CHECK_THROWS(lin.output_shape({xf.view()}), TypeError);
  Buffer empty(F64, 0, 4);
  CHECK_THROWS(lin.output_shape({empty.view()}), ValueError);
  Buffer dy(F64, 3, 2);
  Tensor none{};
  CHECK_THROWS(lin.backward(dy.view(), &none), StateError);
  Hadamard h(F64);
  Buffer a(F64, 2, 3), b(F64, 2, 4);
  CHECK_THROWS(h.output_shape({a.view(), b.view()}), ValueError);
  CHECK_THROWS(h.output_shape({a.view()}), ValueError);
  Runner r(std::make_shared<ReLU>(F64));
  Buffer bad(F64, 1, 2);
  bad.ptr<double>()[1] = std::nan("");
  CHECK_THROWS(r.forward({bad.view()}), ValueError);
}

TEST_CASE(join_blocks_gradients) {
  for (int n : {2, 3, 5}) {
    Add add(F64, n);
    std::vector<Buffer> in;
    for (int k = 0; k < n; ++k) in.push_back(std::move(inputs({{{3, 4}, {-2, 2}}})[0]));
    CHECK(fd_error(add, std::move(in), std::vector<bool>(n, true)) < TOL);
  }
  Concat cat(F64, 3);  // inputs of three widths
  CHECK(fd_error(cat, inputs({{{3, 1}, {-2, 2}}, {{3, 4}, {-2, 2}}, {{3, 2}, {-2, 2}}}),
                 {true, false, true}) < TOL);
  Identity id(F64);
  CHECK(fd_error(id, inputs({{{2, 5}, {-3, 3}}}), {true}) < TOL);
}

template <class T>
void join_golden() {
  const DType dt = dtype_of<T>();
  Buffer a(dt, 2, 1), b(dt, 2, 2), c(dt, 2, 1), y(dt, 2, 4), s(dt, 2, 1);
  const T av[] = {1, 2}, bv[] = {3, 4, 5, 6}, cv[] = {7, 8};
  std::copy(av, av + 2, a.ptr<T>());
  std::copy(bv, bv + 4, b.ptr<T>());
  std::copy(cv, cv + 2, c.ptr<T>());
  Tensor in[3] = {a.view(), b.view(), c.view()};
  Concat cat(dt, 3);
  CHECK(cat.output_shape({in[0], in[1], in[2]}) == (Shape{2, 4}));
  cat.forward(in, y.view());
  const T want[] = {1, 3, 4, 7, 2, 5, 6, 8};
  for (int i = 0; i < 8; ++i) CHECK(y.ptr<T>()[i] == want[i]);
  Buffer da(dt, 2, 1), db(dt, 2, 2), dc(dt, 2, 1);
  Tensor d[3] = {da.view(), Tensor{}, dc.view()};  // input 1's gradient is not wanted
  for (int i = 0; i < 8; ++i) y.ptr<T>()[i] = static_cast<T>(10 * i);
  cat.backward(y.view(), d);  // dy rows (0 10 20 30), (40 50 60 70)
  CHECK(da.ptr<T>()[0] == 0 && da.ptr<T>()[1] == 40 && dc.ptr<T>()[0] == 30 &&
        dc.ptr<T>()[1] == 70);
  Tensor ac[3] = {a.view(), c.view(), a.view()};
  Add add(dt, 3);
  add.forward(ac, s.view());
  CHECK(s.ptr<T>()[0] == 9 && s.ptr<T>()[1] == 12);
  Buffer g0(dt, 2, 1), g2(dt, 2, 1);
  Tensor g[3] = {g0.view(), Tensor{}, g2.view()};
  add.backward(s.view(), g);
  CHECK(g0.ptr<T>()[0] == 9 && g2.ptr<T>()[1] == 12);
}

TEST_CASE(join_blocks_golden_both_dtypes) {
  join_golden<float>();
  join_golden<double>();
}

TEST_CASE(join_blocks_errors) {
  CHECK_THROWS(Add(F64, 1), ValueError);
  CHECK_THROWS(Concat(F64, 0), ValueError);
  Add add(F64, 3);
  Buffer a(F64, 2, 3), b(F64, 2, 4), c(F64, 3, 3);
  try {
    add.output_shape({a.view(), a.view(), b.view()});
    CHECK(false);
  } catch (const ValueError& e) {  // names both shapes
    const std::string m = e.what();
    CHECK(m.find("Add") != std::string::npos && m.find("(2, 3)") != std::string::npos &&
          m.find("(2, 4)") != std::string::npos);
  }
  CHECK_THROWS(add.output_shape({a.view(), a.view()}), ValueError);  // arity
  Concat cat(F64, 2);
  CHECK_THROWS(cat.output_shape({a.view(), c.view()}), ValueError);  // batch sizes differ
  Buffer labels(DType::i64, 2, 1);
  CHECK_THROWS(cat.output_shape({a.view(), labels.view()}), TypeError);
  CHECK(cat.output_shape({a.view(), b.view()}) == (Shape{2, 7}));
  // twins keep the arity
  auto twin = add.clone_shared();
  CHECK(twin->num_inputs() == 3 && twin->name() == "Add");
}

TEST_CASE(sgd_matches_torch_semantics) {
  auto lin = std::make_shared<Linear>(1, 1, false, F64, "torch", 1);
  double* w = lin->params()[0].value->ptr<double>();
  double* g = lin->params()[0].grad->ptr<double>();
  *w = 1.0;
  SGD opt(lin->params(), 0.1, 0.9, 0.0, 0.01, true);
  // hand-computed: step 1 d = 0.5 + 0.01 = 0.51, buf = 0.51, w -= 0.1 (0.51 + 0.9 * 0.51)
  *g = 0.5;
  opt.step();
  const double w1 = 1.0 - 0.1 * (0.51 + 0.9 * 0.51);
  CHECK_NEAR(*w, w1, 1e-15);
  const double d2 = 0.5 + 0.01 * w1, buf2 = 0.9 * 0.51 + d2;
  opt.step();
  CHECK_NEAR(*w, w1 - 0.1 * (d2 + 0.9 * buf2), 1e-15);
  CHECK_THROWS(SGD(lin->params(), -1.0), ValueError);
  CHECK_THROWS(SGD(lin->params(), 0.1, 0.0, 0.0, 0.0, true), ValueError);
}

// -- LayerNorm and BatchNorm ------------------------------------------------------------------
namespace {

// Sets gamma and beta away from 1 and 0 so that the checks see them.
void scramble_affine(Block& b, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& p : b.params())
    for (std::int64_t k = 0; k < p.value->size(); ++k)
      p.value->ptr<double>()[k] = rng.uniform(0.5, 2.0);
}

}  // namespace

TEST_CASE(layer_norm_gradients_and_golden) {
  LayerNorm ln(5, 1e-5, true, F64);
  scramble_affine(ln, 4);
  CHECK(fd_error(ln, inputs({{{3, 5}, {-2, 2}}}), {true}) < TOL);
  LayerNorm plain(4, 1e-3, false, F64);
  CHECK(plain.params().empty() && plain.buffers().empty());
  CHECK(fd_error(plain, inputs({{{2, 4}, {-2, 2}}}), {true}) < TOL);
  // one row (1, 2, 3): mean 2, biased variance 2/3
  Buffer x(F64, 1, 3), y(F64, 1, 3);
  for (int j = 0; j < 3; ++j) x.ptr<double>()[j] = j + 1.0;
  Tensor xv = x.view();
  LayerNorm three(3, 1e-3, false, F64);
  three.forward(&xv, y.view());
  const double r = 1.0 / std::sqrt(2.0 / 3.0 + 1e-3);
  CHECK_NEAR(y.ptr<double>()[0], -r, 1e-14);
  CHECK_NEAR(y.ptr<double>()[1], 0.0, 1e-14);
  CHECK_NEAR(y.ptr<double>()[2], r, 1e-14);
  // a large common offset loses nothing in float32 (two passes, sums in double)
  LayerNorm f(3, 1e-5, true, DType::f32);
  Buffer xf(DType::f32, 1, 3), yf(DType::f32, 1, 3);
  for (int j = 0; j < 3; ++j) xf.ptr<float>()[j] = 1e4f + static_cast<float>(j);
  Tensor xfv = xf.view();
  f.forward(&xfv, yf.view());
  CHECK_NEAR(yf.ptr<float>()[0], -1.0 / std::sqrt(2.0 / 3.0 + 1e-5), 1e-6);
}

TEST_CASE(batch_norm_gradients_in_both_modes) {
  BatchNorm bn(3, 1e-5, 0.1, F64);
  scramble_affine(bn, 5);
  CHECK(bn.buffers().size() == 3 && bn.params().size() == 2);
  CHECK(fd_error(bn, inputs({{{4, 3}, {-2, 2}}}), {true}) < TOL);  // through the batch's stats
  bn.set_training(false);
  CHECK(fd_error(bn, inputs({{{4, 3}, {-2, 2}}}), {true}) < TOL);  // the running stats: constants
  CHECK(fd_error(bn, inputs({{{1, 3}, {-2, 2}}}), {true}) < TOL);  // one row is fine in eval
}

TEST_CASE(batch_norm_running_statistics) {
  BatchNorm bn(2, 1e-5, 0.25, F64);
  const double xs[3][2] = {{1, 10}, {2, 20}, {6, 30}};  // means 3, 20; unbiased vars 7, 100
  Buffer x(F64, 3, 2), y(F64, 3, 2);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) x.ptr<double>()[i * 2 + j] = xs[i][j];
  Tensor xv = x.view();
  bn.forward(&xv, y.view());
  const double* rm = bn.buffers()[0].value->ptr<double>();
  const double* rv = bn.buffers()[1].value->ptr<double>();
  CHECK_NEAR(rm[0], 0.25 * 3, 1e-15);
  CHECK_NEAR(rm[1], 0.25 * 20, 1e-15);
  CHECK_NEAR(rv[0], 0.75 + 0.25 * 7, 1e-15);
  CHECK_NEAR(rv[1], 0.75 + 0.25 * 100, 1e-15);
  CHECK(*bn.buffers()[2].value->ptr<std::int64_t>() == 1);
  CHECK(bn.buffers()[2].value->dtype() == DType::i64 && bn.buffers()[2].ndim == 0);
  // eval: the running statistics, and nothing is updated
  bn.set_training(false);
  bn.forward(&xv, y.view());
  CHECK_NEAR(y.ptr<double>()[0], (1 - rm[0]) / std::sqrt(rv[0] + 1e-5), 1e-14);
  CHECK(*bn.buffers()[2].value->ptr<std::int64_t>() == 1);
  // a weight-shared twin shares the statistics
  auto twin = bn.clone_shared();
  twin->set_training(true);
  twin->forward(&xv, y.view());
  CHECK(*bn.buffers()[2].value->ptr<std::int64_t>() == 2);
  CHECK(twin->buffers()[0].value == bn.buffers()[0].value);
}

TEST_CASE(batch_norm_errors) {
  BatchNorm bn(2, 1e-5, 0.1, F64);
  Buffer one(F64, 1, 2), y(F64, 1, 2);
  Tensor ov = one.view();
  CHECK_THROWS(bn.forward(&ov, y.view()), ValueError);  // one sample has no batch variance
  CHECK(*bn.buffers()[2].value->ptr<std::int64_t>() == 0);
  CHECK(!bn.has_forward());
  bn.set_training(false);
  bn.buffers()[1].value->ptr<double>()[1] = -1.0;
  CHECK_THROWS(bn.forward(&ov, y.view()), ValueError);  // a negative running variance
  CHECK_THROWS(BatchNorm(0, 1e-5, 0.1, F64), ValueError);
  CHECK_THROWS(BatchNorm(2, 0.0, 0.1, F64), ValueError);
  CHECK_THROWS(BatchNorm(2, 1e-5, 1.5, F64), ValueError);
  CHECK_THROWS(LayerNorm(0, 1e-5, true, F64), ValueError);
  CHECK_THROWS(LayerNorm(2, -1.0, true, F64), ValueError);
  LayerNorm ln(3, 1e-5, true, F64);
  Buffer w(F64, 2, 4);
  CHECK_THROWS(ln.output_shape({w.view()}), ValueError);
}

namespace {
// x with no element within 0.05 of 0 (the kink of LeakyReLU and ELU)
std::vector<Buffer> off_zero(std::int64_t r, std::int64_t c) {
  auto x = inputs({{{r, c}, {0.05, 3}}});
  for (std::int64_t i = 0; i < r * c; i += 2) x[0].ptr<double>()[i] *= -1;
  return x;
}

// y and dx of a block at the points xs (float64), with dy = 1.
std::pair<std::vector<double>, std::vector<double>> at(Block& b, const std::vector<double>& xs) {
  const auto n = static_cast<std::int64_t>(xs.size());
  Buffer x(F64, 1, n), y(F64, 1, n), dy(F64, 1, n), dx(F64, 1, n);
  for (std::int64_t i = 0; i < n; ++i) {
    x.ptr<double>()[i] = xs[i];
    dy.ptr<double>()[i] = 1.0;
  }
  Tensor xv = x.view(), dxv = dx.view();
  b.forward(&xv, y.view());
  b.backward(dy.view(), &dxv);
  return {std::vector<double>(y.ptr<double>(), y.ptr<double>() + n),
          std::vector<double>(dx.ptr<double>(), dx.ptr<double>() + n)};
}
}  // namespace

TEST_CASE(new_activation_gradients) {
  LeakyReLU leaky(0.2, F64), negative(-0.5, F64);
  CHECK(fd_error(leaky, off_zero(3, 4), {true}) < TOL);
  CHECK(fd_error(negative, off_zero(3, 4), {true}) < TOL);
  ELU elu(1.0, F64), elu2(0.3, F64);
  CHECK(fd_error(elu, off_zero(3, 4), {true}) < TOL);
  CHECK(fd_error(elu2, off_zero(3, 4), {true}) < TOL);
  GELU gelu("none", F64), gelu_tanh("tanh", F64);
  CHECK(fd_error(gelu, inputs({{{3, 4}, {-4, 4}}}), {true}) < TOL);
  CHECK(fd_error(gelu_tanh, inputs({{{3, 4}, {-4, 4}}}), {true}) < TOL);
  Softplus sp(1.0, 20.0, F64), sharp(3.0, 2.0, F64);
  CHECK(fd_error(sp, inputs({{{3, 4}, {-5, 5}}}), {true}) < TOL);
  CHECK(fd_error(sharp, inputs({{{3, 4}, {-2, 0.6}}}), {true}) < TOL);  // 3x <= 1.8: smooth part
  CHECK(fd_error(sharp, inputs({{{3, 4}, {0.7, 3}}}), {true}) < TOL);   // 3x > 2: linear part
}

TEST_CASE(new_activation_golden) {
  // values from PyTorch 2.13 (torch.nn.functional, float64)
  LeakyReLU leaky(0.01, F64);
  auto [y, dx] = at(leaky, {-2.0, 0.0, 3.0});
  CHECK(y[0] == -0.02 && y[1] == 0.0 && y[2] == 3.0);
  CHECK(dx[0] == 0.01 && dx[1] == 0.01 && dx[2] == 1.0);  // the slope at 0
  ELU elu(0.5, F64);
  std::tie(y, dx) = at(elu, {-1.0, 0.0, 2.0});
  CHECK_NEAR(y[0], 0.5 * (std::exp(-1.0) - 1.0), 1e-15);
  CHECK(y[1] == 0.0 && y[2] == 2.0);
  CHECK_NEAR(dx[0], 0.5 * std::exp(-1.0), 1e-15);
  CHECK(dx[1] == 0.5 && dx[2] == 1.0);  // alpha at 0
  GELU gelu("none", F64), gelu_tanh("tanh", F64);
  std::tie(y, dx) = at(gelu, {-1.0, 0.0, 1.0});
  CHECK_NEAR(y[0], -0.15865525393145702, 1e-14);
  CHECK_NEAR(y[2], 0.841344746068543, 1e-14);
  CHECK_NEAR(dx[0], -0.08331547058768635, 1e-14);
  CHECK(dx[1] == 0.5);
  std::tie(y, dx) = at(gelu_tanh, {-1.0, 1.0});
  CHECK_NEAR(y[0], -0.15880800939172324, 1e-14);
  CHECK_NEAR(y[1], 0.8411919906082768, 1e-14);
  Softplus sp(2.0, 3.0, F64);
  std::tie(y, dx) = at(sp, {-1.0, 1.5, 1.6});
  CHECK_NEAR(y[0], std::log1p(std::exp(-2.0)) / 2, 1e-15);
  CHECK_NEAR(y[1], std::log1p(std::exp(3.0)) / 2, 1e-15);  // 2x = 3 is not above the threshold
  CHECK(y[2] == 1.6 && dx[2] == 1.0);                      // 2x > 3: the identity
  CHECK_NEAR(dx[1], 1 / (1 + std::exp(-3.0)), 1e-15);
}

TEST_CASE(new_activations_stable_and_validated) {
  // far tails: finite, saturated, no overflow in x^3 or exp
  GELU gelu("none", F64), gelu_tanh("tanh", F64);
  ELU elu(1.0, F64);
  Softplus sp(1.0, 1e6, F64);  // a threshold no float reaches: exp must not overflow
  for (Block* b : std::initializer_list<Block*>{&gelu, &gelu_tanh, &elu, &sp}) {
    auto [y, dx] = at(*b, {-1e300, -800.0, 800.0, 1e300});
    for (int i = 0; i < 4; ++i) CHECK(std::isfinite(y[i]) && std::isfinite(dx[i]));
  }
  auto [y, dx] = at(sp, {800.0, -800.0});
  CHECK(y[0] == 800.0 && dx[0] == 1.0 && y[1] == 0.0 && dx[1] == 0.0);
  GELU g32("none", DType::f32);
  Buffer x(DType::f32, 1, 1), y32(DType::f32, 1, 1);
  x.ptr<float>()[0] = -10.0f;
  Tensor xv = x.view();
  g32.forward(&xv, y32.view());
  CHECK_NEAR(y32.ptr<float>()[0] / -7.619853024160593e-23, 1.0, 1e-6);  // the tail keeps its digits
  CHECK_THROWS(LeakyReLU(std::nan(""), F64), ValueError);
  CHECK_THROWS(LeakyReLU(1e300, DType::f32), ValueError);  // infinite in float32
  CHECK_THROWS(ELU(INFINITY, F64), ValueError);
  CHECK_THROWS(GELU("exact", F64), ValueError);
  CHECK_THROWS(Softplus(0.0, 20.0, F64), ValueError);
  CHECK_THROWS(Softplus(-1.0, 20.0, F64), ValueError);
  CHECK_THROWS(Softplus(1.0, std::nan(""), F64), ValueError);
  CHECK_THROWS(Softplus(1e-50, 20.0, DType::f32), ValueError);  // 0 in float32
}

TEST_CASE(max_norm_after_every_step) {
  CHECK_THROWS(Linear(3, 2, true, F64, "torch", 1, -1.0), ValueError);
  CHECK_THROWS(Linear(3, 2, true, F64, "torch", 1, std::nan("")), ValueError);
  for (DType dt : {F64, DType::f32}) {
    auto lin = std::make_shared<Linear>(4, 3, true, dt, "torch", 1, 1.0);
    CHECK(lin->max_norm() == 1.0 && lin->params()[1].max_norm == 0.0);  // the weight, not the bias
    dispatch_float(dt, [&](auto zero) {
      using T = decltype(zero);
      T* w = lin->params()[0].value->ptr<T>();
      T* g = lin->params()[0].grad->ptr<T>();
      T* b = lin->params()[1].value->ptr<T>();
      const T rows[3][4] = {{3, 4, 0, 0}, {0.1f, 0.2f, 0.3f, 0.4f}, {1, 1, 1, 1}};
      for (int i = 0; i < 12; ++i) {
        w[i] = rows[i / 4][i % 4];
        g[i] = 0;
      }
      b[0] = 5;  // far above 1: biases are not constrained
      SGD opt(lin->params(), 0.0);
      opt.step();  // lr 0: only the constraint acts
      // float32 rows may be shrunk by one ulp more so that the stored norm stays <= 1
      CHECK_NEAR(w[0], 0.6, 3e-7);
      CHECK_NEAR(w[1], 0.8, 3e-7);  // (3, 4) / 5
      for (int j = 0; j < 4; ++j) {
        CHECK(w[4 + j] == rows[1][j]);  // within the bound: untouched, bit for bit
        CHECK_NEAR(w[8 + j], 0.5, 3e-7);
      }
      CHECK(b[0] == 5);
      // a huge step: every row ends at norm <= 1
      for (int i = 0; i < 12; ++i) g[i] = static_cast<T>(1e3 * (i % 5 - 2));
      Adam adam(lin->params(), 10.0, 0.9, 0.999, 1e-8, 0.0, false);
      for (int s = 0; s < 3; ++s) adam.step();
      for (int r = 0; r < 3; ++r) {
        double n = 0;
        for (int j = 0; j < 4; ++j) n += static_cast<double>(w[4 * r + j]) * w[4 * r + j];
        CHECK(std::sqrt(n) <= 1.0);
        CHECK(std::sqrt(n) > 0.99);  // pushed out, scaled back onto the bound
      }
    });
  }
}
