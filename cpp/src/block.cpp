#include "bricks/block.h"

namespace bricks {

Block::Block(DType dtype) : dtype_(dtype) {
  if (dtype != DType::f32 && dtype != DType::f64)
    throw TypeError(std::string("block dtype must be float32 or float64, got ") +
                    dtype_name(dtype));
}

void Block::fail(const std::string& what) const { throw ValueError(name() + ": " + what); }

Shape Block::output_shape(const std::vector<Tensor>& in) const {
  const int n = num_inputs();
  if (static_cast<int>(in.size()) != n)
    fail("expected " + std::to_string(n) + " input(s), got " + std::to_string(in.size()));
  for (int i = 0; i < n; ++i) {
    const Tensor& t = in[i];
    const bool label_ok = accepts_labels(i) && t.dtype == DType::i64;
    if (t.dtype != dtype_ && !label_ok)
      throw TypeError(name() + ": input " + std::to_string(i) + " must be " + dtype_name(dtype_) +
                      (accepts_labels(i) ? " (or int64 class labels)" : "") + ", got " +
                      dtype_name(t.dtype));
    if (t.rows <= 0) fail("input " + std::to_string(i) + " is an empty batch (0 rows)");
    if (t.cols <= 0) fail("input " + std::to_string(i) + " has 0 features");
    if (t.rows != in[0].rows)
      fail("inputs have different batch sizes: " + std::to_string(in[0].rows) + " and " +
           std::to_string(t.rows));
  }
  return infer_shape(in);
}

Shape Block::infer_shape(const std::vector<Tensor>& in) const { return in[0].shape(); }

void Block::forward(const Tensor* inputs, const Tensor& out) {
  has_forward_ = false;  // a failed forward leaves no stale cache behind
  do_forward(inputs, out);
  in_shapes_.resize(num_inputs());
  for (int i = 0; i < num_inputs(); ++i) in_shapes_[i] = inputs[i].shape();
  out_shape_ = out.shape();
  has_forward_ = true;
  ++forward_serial_;
}

Shape Block::probe_shape(const std::vector<Tensor>& probes) const {
  try {
    return output_shape(probes);
  } catch (const ValueError& e) {
    std::string m = e.what();
    for (const char* word : {"got (1, ", "and (1, "})  // "Linear(1, 3)" names stay as they are
      for (std::size_t at; (at = m.find(word)) != std::string::npos;) m.replace(at + 5, 1, "N");
    throw ValueError(m);
  }
}

void Block::backward(const Tensor& dy, Tensor* dinputs) {
  if (!has_forward_) throw StateError(name() + ": backward called before forward");
  if (dy.shape() != out_shape_)
    fail("expected dy of shape " + out_shape_.str() + " (the output's), got " + dy.shape().str());
  for (int i = 0; i < num_inputs(); ++i)
    if (dinputs[i] && dinputs[i].shape() != in_shapes_[i])
      fail("gradient buffer " + std::to_string(i) + " has shape " + dinputs[i].shape().str() +
           ", expected " + in_shapes_[i].str());
  do_backward(dy, dinputs);
}

std::shared_ptr<Block> Block::clone_shared() const {
  auto twin = make_twin();
  twin->params_ = params_;
  twin->buffers_ = buffers_;
  twin->training_ = training_;
  twin->mu_ = mu_;  // the same weights: one lock
  return twin;
}

void Block::zero_grad() {
  for (auto& p : params_) p.grad->fill_zero();
}

Param& Block::add_param(const std::string& pname, std::int64_t rows, std::int64_t cols) {
  params_.push_back({pname, std::make_shared<Buffer>(dtype_, rows, cols),
                     std::make_shared<Buffer>(dtype_, rows, cols)});
  return params_.back();
}

StateBuffer& Block::add_buffer(const std::string& bname, DType dt, std::int64_t rows,
                               std::int64_t cols, int ndim) {
  buffers_.push_back({bname, std::make_shared<Buffer>(dt, rows, cols), ndim});
  return buffers_.back();
}

}  // namespace bricks
