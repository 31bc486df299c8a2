// bricks._core: the only place that sees Python. Checks arrays (no copies: the
// Python layer converts dtype and layout first), releases the GIL for the work.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>

#include "binding_utils.h"
#include "bricks/blas.h"
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
#include "bricks/kernels.h"
#include "bricks/optim.h"
#include "bricks/rng.h"
#include "bricks/runner.h"

namespace py = pybind11;
using namespace bricks;

void bind_trainer(py::module_& m);   // trainer_bindings.cpp
void bind_graph(py::module_& m);     // graph_bindings.cpp
void bind_py_block(py::module_& m);  // py_block.cpp
void bind_gemm(py::module_& m);      // gemm_bindings.cpp

namespace {

// A writable view of `buf` (which it keeps alive) with `ndim` dimensions: 0 a scalar,
// 1 a vector (a one-row buffer), 2 a matrix.
py::array buffer_view(const std::shared_ptr<Buffer>& buf, int ndim) {
  auto* keep = new std::shared_ptr<Buffer>(buf);
  py::capsule owner(keep, [](void* q) { delete static_cast<std::shared_ptr<Buffer>*>(q); });
  const Shape s = buf->shape();
  const auto isz = static_cast<py::ssize_t>(itemsize(buf->dtype()));
  std::vector<py::ssize_t> shape, strides;
  if (ndim == 1) {
    shape = {s.size()};
    strides = {isz};
  } else if (ndim == 2) {
    shape = {s.rows, s.cols};
    strides = {s.cols * isz, isz};
  }
  return py::array(numpy_dtype(buf->dtype()), shape, strides, buf->ptr<unsigned char>(), owner);
}

py::array param_array(const Param& p, bool grad) {
  return buffer_view(grad ? p.grad : p.value, p.flat ? 1 : 2);
}

std::vector<Param> collect_params(const std::vector<std::shared_ptr<Block>>& blocks) {
  std::vector<Param> ps;
  for (auto& b : blocks)
    for (auto& p : b->params()) ps.push_back(p);
  return ps;
}

const Param& find_param(Block& b, const std::string& name) {
  for (const auto& p : b.params())
    if (p.name == name) return p;
  throw py::key_error(b.name() + " has no parameter '" + name + "'");
}

const StateBuffer& find_buffer(Block& b, const std::string& name) {
  for (const auto& s : b.buffers())
    if (s.name == name) return s;
  throw py::key_error(b.name() + " has no buffer '" + name + "'");
}

py::list runner_backward(Runner& r, const py::array& dy_in) {
  Block& b = r.block();
  LockSet lock;
  lock_nogil(lock, r.lock_order());
  r.check_current();
  const py::array dy_arr = aligned(dy_in);
  Tensor dy = as_tensor(dy_arr, b.name(), "dy");
  const auto& shapes = r.input_shapes();
  std::vector<py::object> outs;
  std::vector<Tensor> din;
  for (int i = 0; i < b.num_inputs(); ++i) {
    if (r.input_dtype(i) == DType::i64) {  // integer labels have no gradient
      outs.push_back(py::none());
      din.push_back({});
      continue;
    }
    py::array a(numpy_dtype(b.dtype()), std::vector<py::ssize_t>{shapes[i].rows, shapes[i].cols});
    din.push_back({b.dtype(), a.mutable_data(), shapes[i].rows, shapes[i].cols});
    outs.push_back(a);
  }
  {
    NoGil nogil;
    r.backward(dy, din);
  }
  py::list res;
  for (auto& o : outs) res.append(o);
  return res;
}

py::array runner_forward(Runner& r, const py::list& xs) {
  Block& b = r.block();
  std::vector<py::array> keep;
  std::vector<Tensor> in;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    keep.push_back(aligned(py::cast<py::array>(xs[i])));
    in.push_back(as_tensor(keep.back(), b.name(), "input " + std::to_string(i)));
  }
  Tensor out;
  LockSet lock;
  {
    NoGil nogil;
    lock.lock(r.lock_order());
    out = r.forward(in);
  }
  py::array res(numpy_dtype(out.dtype), std::vector<py::ssize_t>{out.rows, out.cols});
  std::memcpy(res.mutable_data(), out.data,
              static_cast<std::size_t>(out.size()) * itemsize(out.dtype));
  return res;
}

// Runs f(block) holding the block's mutex (taken without the GIL).
template <class F>
auto with_block(Block& b, F f) {
  // inside the block's own Python forward/backward: this thread holds it already
  if (held_by_this_thread(&b.mutex())) return f(b);
  std::unique_lock<std::mutex> lock;
  {
    NoGil nogil;
    lock = std::unique_lock<std::mutex>(b.mutex());
  }
  return f(b);
}

template <class F>
auto with_owners(Optimizer& o, F f) {
  LockSet lock;
  lock_nogil(lock, o.lock_order());
  return f(o);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "bricks native core (private; use the bricks package)";
  register_errors(m);

  py::class_<Block, std::shared_ptr<Block>>(m, "Block")
      .def_property_readonly("name", &Block::name)
      .def_property_readonly("num_inputs", &Block::num_inputs)
      .def_property_readonly("is_loss", &Block::is_loss)
      .def_property_readonly("dtype", [](const Block& b) { return dtype_name(b.dtype()); })
      .def_property_readonly(
          "has_forward",
          [](Block& b) { return with_block(b, [](Block& x) { return x.has_forward(); }); })
      .def("accepts_labels", &Block::accepts_labels)
      .def("param_names",
           [](const Block& b) {
             std::vector<std::string> names;
             for (const auto& p : b.params()) names.push_back(p.name);
             return names;
           })
      .def("param",
           [](Block& b, const std::string& n) { return param_array(find_param(b, n), false); })
      .def("grad",
           [](Block& b, const std::string& n) { return param_array(find_param(b, n), true); })
      .def("buffer_names",
           [](const Block& b) {
             std::vector<std::string> names;
             for (const auto& s : b.buffers()) names.push_back(s.name);
             return names;
           })
      .def("buffer",
           [](Block& b, const std::string& n) {
             const StateBuffer& s = find_buffer(b, n);
             return buffer_view(s.value, s.ndim);
           })
      .def("zero_grad", [](Block& b) { with_block(b, [](Block& x) { x.zero_grad(); }); })
      .def("invalidate", [](Block& b) { with_block(b, [](Block& x) { x.invalidate(); }); })
      .def("clone_shared",
           [](Block& b) { return with_block(b, [](Block& x) { return x.clone_shared(); }); })
      .def("infer_features",
           [](const Block& b, const std::vector<std::pair<std::int64_t, bool>>& ins) {
             // Output width for inputs of these widths (labels: int64): checks the wiring.
             std::vector<Tensor> probe;
             for (auto& [cols, labels] : ins)
               probe.push_back({labels ? DType::i64 : b.dtype(), nullptr, 1, cols});
             return b.probe_shape(probe).cols;
           })
      .def_property(
          "training", [](Block& b) { return with_block(b, [](Block& x) { return x.training(); }); },
          [](Block& b, bool on) { with_block(b, [on](Block& x) { x.set_training(on); }); });

  py::class_<Linear, Block, std::shared_ptr<Linear>>(m, "Linear")
      .def(py::init([](std::int64_t in, std::int64_t out, bool bias, const std::string& dt,
                       const std::string& init, std::uint64_t seed, double max_norm) {
             return std::make_shared<Linear>(in, out, bias, parse_dtype(dt), init, seed, max_norm);
           }),
           py::arg("in_features"), py::arg("out_features"), py::arg("bias"), py::arg("dtype"),
           py::arg("init"), py::arg("seed"), py::arg("max_norm") = 0.0)
      .def_property_readonly("max_norm", &Linear::max_norm)
      .def_property_readonly("in_features", &Linear::in_features)
      .def_property_readonly("out_features", &Linear::out_features);

#define BRICKS_SIMPLE(CLS)                                                                    \
  py::class_<CLS, Block, std::shared_ptr<CLS>>(m, #CLS).def(                                  \
      py::init([](const std::string& dt) { return std::make_shared<CLS>(parse_dtype(dt)); }), \
      py::arg("dtype"));
  BRICKS_SIMPLE(ReLU)
  BRICKS_SIMPLE(Sigmoid)
  BRICKS_SIMPLE(Tanh)
  BRICKS_SIMPLE(Softmax)
  BRICKS_SIMPLE(LogSoftmax)
  BRICKS_SIMPLE(Hadamard)
  BRICKS_SIMPLE(Identity)
#undef BRICKS_SIMPLE

  py::class_<Loss, Block, std::shared_ptr<Loss>>(m, "Loss")
      .def_property_readonly("supports_sample_weight", &Loss::supports_sample_weight)
      .def_property_readonly("has_sample_weight",
                             [](Loss& b) {
                               return with_block(b, [](Block& x) {
                                 return static_cast<Loss&>(x).has_sample_weight();
                               });
                             })
      .def(
          "set_sample_weight",
          [](Loss& b, const std::optional<py::array_t<double, py::array::c_style>>& w) {
            const double* p = w ? w->data() : nullptr;
            const auto n = w ? static_cast<std::int64_t>(w->size()) : 0;
            with_block(b, [&](Block& x) { static_cast<Loss&>(x).set_sample_weight(p, n); });
          },
          py::arg("sample_weight"), "Per-sample weights for the next forwards (None: unweighted).");
#define BRICKS_LOSS(CLS)                                                                      \
  py::class_<CLS, Loss, std::shared_ptr<CLS>>(m, #CLS).def(                                   \
      py::init([](const std::string& dt) { return std::make_shared<CLS>(parse_dtype(dt)); }), \
      py::arg("dtype"));
  BRICKS_LOSS(MSELoss)
  BRICKS_LOSS(BCELoss)
  BRICKS_LOSS(BCEWithLogitsLoss)
#undef BRICKS_LOSS
  py::class_<CrossEntropyLoss, Loss, std::shared_ptr<CrossEntropyLoss>>(m, "CrossEntropyLoss")
      .def(py::init([](const std::string& dt, const std::vector<double>& weight) {
             return std::make_shared<CrossEntropyLoss>(parse_dtype(dt), weight);
           }),
           py::arg("dtype"), py::arg("weight") = std::vector<double>{})
      .def_property_readonly("weight", &CrossEntropyLoss::weight);

  // Add and Concat: n inputs, fixed per native block (the Python class keeps one per n)
  py::class_<Add, Block, std::shared_ptr<Add>>(m, "Add").def(
      py::init(
          [](int n, const std::string& dt) { return std::make_shared<Add>(parse_dtype(dt), n); }),
      py::arg("n"), py::arg("dtype"));
  py::class_<Concat, Block, std::shared_ptr<Concat>>(m, "Concat")
      .def(py::init([](int n, const std::string& dt) {
             return std::make_shared<Concat>(parse_dtype(dt), n);
           }),
           py::arg("n"), py::arg("dtype"));

  py::class_<Dropout, Block, std::shared_ptr<Dropout>>(m, "Dropout")
      .def(py::init([](double p, const std::string& dt, std::uint64_t seed) {
             return std::make_shared<Dropout>(p, parse_dtype(dt), seed);
           }),
           py::arg("p"), py::arg("dtype"), py::arg("seed"))
      .def_property_readonly("p", &Dropout::p)
      .def("reseed", &Dropout::reseed);

  py::class_<LayerNorm, Block, std::shared_ptr<LayerNorm>>(m, "LayerNorm")
      .def(py::init([](std::int64_t features, double eps, bool affine, const std::string& dt) {
             return std::make_shared<LayerNorm>(features, eps, affine, parse_dtype(dt));
           }),
           py::arg("features"), py::arg("eps"), py::arg("elementwise_affine"), py::arg("dtype"))
      .def_property_readonly("features", &LayerNorm::features);

  py::class_<BatchNorm, Block, std::shared_ptr<BatchNorm>>(m, "BatchNorm")
      .def(py::init([](std::int64_t features, double eps, double momentum, const std::string& dt) {
             return std::make_shared<BatchNorm>(features, eps, momentum, parse_dtype(dt));
           }),
           py::arg("features"), py::arg("eps"), py::arg("momentum"), py::arg("dtype"))
      .def_property_readonly("features", &BatchNorm::features);
  py::class_<LeakyReLU, Block, std::shared_ptr<LeakyReLU>>(m, "LeakyReLU")
      .def(py::init([](double slope, const std::string& dt) {
             return std::make_shared<LeakyReLU>(slope, parse_dtype(dt));
           }),
           py::arg("negative_slope"), py::arg("dtype"))
      .def_property_readonly("negative_slope", &LeakyReLU::negative_slope);

  py::class_<ELU, Block, std::shared_ptr<ELU>>(m, "ELU")
      .def(py::init([](double alpha, const std::string& dt) {
             return std::make_shared<ELU>(alpha, parse_dtype(dt));
           }),
           py::arg("alpha"), py::arg("dtype"))
      .def_property_readonly("alpha", &ELU::alpha);

  py::class_<GELU, Block, std::shared_ptr<GELU>>(m, "GELU")
      .def(py::init([](const std::string& approximate, const std::string& dt) {
             return std::make_shared<GELU>(approximate, parse_dtype(dt));
           }),
           py::arg("approximate"), py::arg("dtype"))
      .def_property_readonly("approximate", &GELU::approximate);

  py::class_<Softplus, Block, std::shared_ptr<Softplus>>(m, "Softplus")
      .def(py::init([](double beta, double threshold, const std::string& dt) {
             return std::make_shared<Softplus>(beta, threshold, parse_dtype(dt));
           }),
           py::arg("beta"), py::arg("threshold"), py::arg("dtype"))
      .def_property_readonly("beta", &Softplus::beta)
      .def_property_readonly("threshold", &Softplus::threshold);

  py::class_<Runner>(m, "Runner")
      .def(py::init<std::shared_ptr<Block>>())
      .def("forward", &runner_forward)
      .def("backward", &runner_backward)
      .def_property_readonly("loss_value", [](Runner& r) {
        LockSet lock;
        lock_nogil(lock, r.lock_order());
        return r.loss_value();
      });

  py::class_<Optimizer>(m, "Optimizer")
      .def("step",
           [](Optimizer& o) {
             LockSet lock;
             NoGil nogil;
             lock.lock(o.lock_order());
             o.step();
           })
      .def("zero_grad", [](Optimizer& o) { with_owners(o, [](Optimizer& x) { x.zero_grad(); }); })
      .def("grad_norm",
           [](Optimizer& o) { return with_owners(o, [](Optimizer& x) { return x.grad_norm(); }); })
      // hyperparameters change between steps, never during one (fit runs in other threads)
      .def_property(
          "lr", [](Optimizer& o) { return with_owners(o, [](Optimizer& x) { return x.lr(); }); },
          [](Optimizer& o, double v) { with_owners(o, [v](Optimizer& x) { x.set_lr(v); }); })
      .def_property(
          "clip_norm",
          [](Optimizer& o) { return with_owners(o, [](Optimizer& x) { return x.clip_norm(); }); },
          [](Optimizer& o, double v) { with_owners(o, [v](Optimizer& x) { x.set_clip_norm(v); }); })
      .def_property(
          "steps",
          [](Optimizer& o) { return with_owners(o, [](Optimizer& x) { return x.steps(); }); },
          [](Optimizer& o, long v) { with_owners(o, [v](Optimizer& x) { x.set_steps(v); }); })
      .def("get_state",
           [](Optimizer& o) {
             // Copies of the state buffers (momentum, moments), for saving.
             LockSet lock;
             lock_nogil(lock, o.lock_order());
             py::list out;
             for (auto& b : o.state()) {
               py::array a(numpy_dtype(b.dtype()),
                           std::vector<py::ssize_t>{b.shape().rows, b.shape().cols});
               std::memcpy(a.mutable_data(), b.ptr<unsigned char>(),
                           static_cast<std::size_t>(b.size()) * itemsize(b.dtype()));
               out.append(a);
             }
             return out;
           })
      .def("set_state", [](Optimizer& o, const std::vector<py::array>& arrays) {
        LockSet lock;
        lock_nogil(lock, o.lock_order());
        auto& st = o.state();
        if (arrays.size() != st.size())
          throw ValueError(o.name() + ": expected " + std::to_string(st.size()) +
                           " state arrays, got " + std::to_string(arrays.size()));
        for (std::size_t i = 0; i < st.size(); ++i) {  // check all before changing any
          Tensor t = as_tensor(arrays[i], o.name(), "state " + std::to_string(i));
          if (t.dtype != st[i].dtype() || t.size() != st[i].size())
            throw ValueError(o.name() + ": state " + std::to_string(i) + " must be " +
                             dtype_name(st[i].dtype()) + " of shape " + st[i].shape().str());
        }
        for (std::size_t i = 0; i < st.size(); ++i)
          std::memcpy(st[i].ptr<unsigned char>(), arrays[i].data(),
                      static_cast<std::size_t>(st[i].size()) * itemsize(st[i].dtype()));
      });

  py::class_<SGD, Optimizer>(m, "SGD").def(
      py::init([](const std::vector<std::shared_ptr<Block>>& blocks, double lr, double momentum,
                  double dampening, double weight_decay, bool nesterov) {
        auto o = std::make_unique<SGD>(collect_params(blocks), lr, momentum, dampening,
                                       weight_decay, nesterov);
        o->set_owners(blocks);
        return o;
      }),
      py::arg("blocks"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
      py::arg("weight_decay"), py::arg("nesterov"));

  py::class_<Adam, Optimizer>(m, "Adam").def(
      py::init([](const std::vector<std::shared_ptr<Block>>& blocks, double lr, double beta1,
                  double beta2, double eps, double weight_decay, bool decoupled) {
        auto o = std::make_unique<Adam>(collect_params(blocks), lr, beta1, beta2, eps, weight_decay,
                                        decoupled);
        o->set_owners(blocks);
        return o;
      }),
      py::arg("blocks"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("decoupled"));

  bind_trainer(m);  // first: Graph.train_batches' signature names its types
  bind_graph(m);
  bind_py_block(m);
  bind_gemm(m);

  m.def("manual_seed", &manual_seed, py::arg("seed"));
  m.def("next_seed", &next_seed);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("blas_corename", &blas_corename);
  m.def("small_m_limit", &small_m_limit);
  m.def("set_small_m_limit", &set_small_m_limit, py::arg("m"),
        "The largest batch the small-M product kernel takes (0: always OpenBLAS).");
  m.def(
      "_linear_forward",  // the fused product alone, for the kernel tests
      [](const py::array& x, const py::array& w, const py::object& b, const std::string& act) {
        const Act a =
            act == "relu"      ? Act::relu
            : act == "sigmoid" ? Act::sigmoid
            : act == "tanh"    ? Act::tanh
            : act == "none"
                ? Act::none
                : throw ValueError("act must be none, relu, sigmoid or tanh, got '" + act + "'");
        Tensor X = as_tensor(x, "_linear_forward", "x"), W = as_tensor(w, "_linear_forward", "w");
        Tensor B;
        py::array keep_b;
        if (!b.is_none()) {
          keep_b = py::cast<py::array>(b);
          B = as_tensor(keep_b, "_linear_forward", "b");
        }
        if (X.dtype != W.dtype || (B && B.dtype != X.dtype) || X.cols != W.cols ||
            (B && B.size() != W.rows))
          throw ValueError("_linear_forward: x (M, K), w (N, K) and b (N) of one dtype expected");
        py::array y(numpy_dtype(X.dtype), std::vector<py::ssize_t>{X.rows, W.rows});
        Tensor Y{X.dtype, y.mutable_data(), X.rows, W.rows};
        {
          NoGil nogil;
          dispatch_float(X.dtype, [&](auto zero) {
            using T = decltype(zero);
            linear_forward(X.ptr<T>(), X.rows, X.cols, W.ptr<T>(), B ? B.ptr<T>() : nullptr, W.rows,
                           Y.ptr<T>(), a);
          });
        }
        return y;
      },
      py::arg("x"), py::arg("w"), py::arg("b"), py::arg("act"));
  m.def("_at_exit", &at_exit, py::arg("seconds"),
        "Stop native work in other threads and wait for it (registered with atexit).");
  m.def(
      "set_isa", [](const std::string& name) { return kernels::isa_name(kernels::set_isa(name)); },
      py::arg("name"));
  m.def(
      "_cap_isa", [](const std::string& name) { kernels::cap_isa(kernels::parse_isa(name)); },
      py::arg("name"), "Pretend the CPU has no path above this one (for tests).");
  m.def("active_isa", [] { return kernels::isa_name(kernels::active_isa()); });
  m.def("available_isas", [] {
    std::vector<std::string> out;
    for (auto i : kernels::isa_available()) out.push_back(kernels::isa_name(i));
    return out;
  });
}
