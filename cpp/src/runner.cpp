#include "bricks/runner.h"

#include <cstring>

#include "bricks/finite.h"
#include "bricks/loss.h"

namespace bricks {

Tensor Runner::forward(const std::vector<Tensor>& in) {
  Block& b = *block_;
  b.invalidate();
  const Shape out = b.output_shape(in);
  for (std::size_t i = 0; i < in.size(); ++i)
    if (in[i].dtype != DType::i64) check_finite(in[i], b.name(), "input " + std::to_string(i));
  inputs_.resize(in.size());
  std::vector<Tensor> views(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    inputs_[i].set_dtype(in[i].dtype);
    inputs_[i].resize(in[i].rows, in[i].cols);
    std::memcpy(inputs_[i].ptr<unsigned char>(), in[i].data,
                static_cast<std::size_t>(in[i].size()) * itemsize(in[i].dtype));
    views[i] = inputs_[i].view();
  }
  output_.set_dtype(b.dtype());
  try {
    output_.resize(out.rows, out.cols);
  } catch (const OutOfMemory& e) {
    throw OutOfMemory(b.name() + ": the output: " + e.what());
  }
  b.forward(views.data(), output_.view());
  serial_ = b.forward_serial();
  if (b.is_loss()) loss_value_ = static_cast<const Loss&>(b).value();
  return output_.view();
}

void Runner::check_current() const {
  const Block& b = *block_;
  if (!b.has_forward()) throw StateError(b.name() + ": backward called before forward");
  if (b.forward_serial() != serial_)
    throw StateError(b.name() +
                     ": a model that uses this block ran a forward since this block's own "
                     "forward, so its caches are the model's; call forward again before backward");
}

void Runner::backward(const Tensor& dy, std::vector<Tensor>& din) {
  Block& b = *block_;
  check_current();
  if (dy.dtype != b.dtype())
    throw TypeError(b.name() + ": dy must be " + dtype_name(b.dtype()) + ", got " +
                    dtype_name(dy.dtype));
  check_finite(dy, b.name(), "dy");
  if (static_cast<int>(din.size()) != b.num_inputs())
    throw ValueError(b.name() + ": expected " + std::to_string(b.num_inputs()) +
                     " gradient buffers, got " + std::to_string(din.size()));
  b.backward(dy, din.data());
}

}  // namespace bricks
