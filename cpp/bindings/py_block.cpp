// A block written in Python (a bricks.Block subclass with NumPy forward/backward),
// run by the native executor like any other block. Its parameters are native
// buffers, so optimizers, zero_grad, clipping, the non-finite guard and save/load
// see them unchanged; its forward and backward take the GIL for this node only.
//
// Forward: y = self._py_forward(*xs), each x a fresh copy (the user may keep it).
// Backward: grads = self._py_backward(dy), one per input; parameter gradients are
// added by the user into self.grads (zeroed first when the graph asks to overwrite).
// Caches: whatever the Python object keeps.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "binding_utils.h"
#include "bricks/block.h"
#include "bricks/errors.h"
#include "bricks/graph.h"

namespace py = pybind11;
using namespace bricks;

namespace {

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

class PyBlock : public Block {
 public:
  PyBlock(const py::handle& self, DType dt, int n_inputs, std::string name)
      : Block(dt), n_inputs_(n_inputs), name_(std::move(name)) {
    if (n_inputs < 1) throw ValueError(name_ + ": n_inputs must be >= 1");
    weak_ = PyWeakref_NewRef(self.ptr(), nullptr);  // weak: no cycle through the core
    if (!weak_) throw py::error_already_set();
  }
  ~PyBlock() override {
    if (!weak_ || !Py_IsInitialized()) return;
    if (PyGILState_Check()) {
      Py_DECREF(weak_);
    } else if (!exiting()) {
      py::gil_scoped_acquire gil;
      Py_DECREF(weak_);
    }  // else: leaked, since taking the GIL while the interpreter exits may never return
  }

  std::string name() const override { return name_; }
  int num_inputs() const override { return n_inputs_; }

  void add_py_param(const std::string& pname, const py::array& a) {
    for (const auto& p : params_)
      if (p.name == pname) throw ValueError(name_ + ": parameter '" + pname + "' exists already");
    const bool flat = a.ndim() == 1;
    Param& p = add_param(pname, flat ? 1 : a.shape(0), flat ? a.shape(0) : a.shape(1));
    p.flat = flat;
    std::memcpy(p.value->ptr<unsigned char>(), a.data(), static_cast<std::size_t>(a.nbytes()));
  }

 protected:
  Shape infer_shape(const std::vector<Tensor>& in) const override {
    std::vector<std::int64_t> cols;
    for (const auto& t : in) cols.push_back(t.cols);
    {
      std::lock_guard<std::mutex> lock(cache_mu_);  // read from threads with and without the GIL
      if (cols == cached_in_) return {in[0].rows, cached_out_};
    }
    std::int64_t out = cols[0];
    {
      enter();
      py::gil_scoped_acquire gil;
      py::object self = owner();
      if (py::hasattr(self, "out_features")) {
        py::tuple args(cols.size());
        for (std::size_t i = 0; i < cols.size(); ++i) args[i] = py::int_(cols[i]);
        py::object r;
        try {
          r = self.attr("out_features")(*args);
        } catch (py::error_already_set& e) {
          annotate(e, "out_features");
          throw;
        }
        if (!py::isinstance<py::int_>(r) || py::isinstance<py::bool_>(r) || r.cast<long long>() < 1)
          throw ValueError(who() + ": out_features returned " + std::string(py::repr(r)) +
                           ", expected a positive int (the output's width)");
        out = r.cast<std::int64_t>();
      }
    }
    std::lock_guard<std::mutex> lock(cache_mu_);
    cached_in_ = cols;
    cached_out_ = out;
    return {in[0].rows, out};
  }

  std::shared_ptr<Block> make_twin() const override {
    throw ValueError(name_ +
                     ": a Python block cannot share its weights between graph nodes (its "
                     "forward's caches live on the one Python object); use a separate block "
                     "per node");
  }

  void do_forward(const Tensor* inputs, const Tensor& out) override {
    enter();
    py::gil_scoped_acquire gil;
    py::object self = owner();
    py::tuple args(n_inputs_);
    for (int i = 0; i < n_inputs_; ++i) args[i] = copy_in(inputs[i]);
    py::object r;
    try {
      r = self.attr("_py_forward")(*args);
    } catch (py::error_already_set& e) {
      annotate(e, "forward");
      throw;
    }
    copy_out(r, out, "forward returned", "(N, out_features)");
  }

  void do_backward(const Tensor& dy, Tensor* dinputs) override {
    enter();
    py::gil_scoped_acquire gil;
    py::object self = owner();
    if (overwrite_grads_) zero_grad();  // the user's backward adds into them
    py::object r;
    try {
      r = self.attr("_py_backward")(copy_in(dy));
    } catch (py::error_already_set& e) {
      annotate(e, "backward");
      throw;
    }
    py::sequence gs;
    if (py::isinstance<py::tuple>(r) || py::isinstance<py::list>(r))
      gs = py::reinterpret_borrow<py::sequence>(r);
    else if (n_inputs_ == 1)
      gs = py::make_tuple(r);
    else
      throw ValueError(who() + ": backward returned a " + type_name(r) + ", expected a tuple of " +
                       std::to_string(n_inputs_) + " gradients (one per input)");
    if (static_cast<int>(gs.size()) != n_inputs_)
      throw ValueError(who() + ": backward returned " + std::to_string(gs.size()) +
                       " gradient(s), expected " + std::to_string(n_inputs_) + " (one per input)");
    for (int i = 0; i < n_inputs_; ++i) {
      if (!dinputs[i]) continue;  // not wanted
      copy_out(gs[i], dinputs[i], "backward returned for input " + std::to_string(i),
               "the input's shape");
    }
  }

 private:
  // Refuses to take the GIL once the interpreter exits (it may never be given back).
  static void enter() {
    if (exiting()) throw Interrupted("the interpreter is exiting");
  }

  static std::string type_name(const py::handle& o) {
    return py::str(py::type::handle_of(o).attr("__name__"));
  }

  // "Scale" on its own, "Scale (node 'scale_3')" inside a graph.
  std::string who() const {
    const std::string& node = running_node();
    return node.empty() ? name_ : name_ + " (node '" + node + "')";
  }

  py::object owner() const {
    py::object self = py::reinterpret_borrow<py::object>(PyWeakref_GetObject(weak_));
    if (self.is_none())
      throw StateError(who() + ": its Python object was deleted; keep the block (or its model)");
    return self;
  }

  // The node's name on the user's exception, which propagates as itself.
  void annotate(py::error_already_set& e, const char* what) const {
    const std::string note = "in " + who() + "." + what;
    py::object v = e.value();
    try {
      if (py::hasattr(v, "add_note")) {
        v.attr("add_note")(note);
      } else {  // Python 3.10: no notes; extend a message argument
        py::tuple args = v.attr("args");
        if (args.size() >= 1 && py::isinstance<py::str>(args[0])) {
          py::list l(args);
          l[0] = py::str(args[0]) + py::str(" (" + note + ")");
          v.attr("args") = py::tuple(l);
        }
      }
    } catch (py::error_already_set&) {
    }  // an exception that takes no note is raised unchanged
  }

  py::array copy_in(const Tensor& t) const {
    py::array a(numpy_dtype(t.dtype), std::vector<py::ssize_t>{t.rows, t.cols});
    std::memcpy(a.mutable_data(), t.data, static_cast<std::size_t>(t.size()) * itemsize(t.dtype));
    return a;
  }

  // Checks that `r` is an array of the block's dtype and dst's shape, then copies it.
  void copy_out(const py::handle& r, const Tensor& dst, const std::string& what,
                const std::string& shape_name) const {
    const std::string want = "(" + std::to_string(dst.rows) + ", " + std::to_string(dst.cols) + ")";
    if (!py::isinstance<py::array>(r))
      throw TypeError(who() + ": " + what + " a " + type_name(r) + ", expected a " +
                      dtype_name(dtype_) + " NumPy array of shape " + want);
    auto a = py::reinterpret_borrow<py::array>(r);
    DType dt;
    if (!dtype_of(a, dt) || dt != dtype_)
      throw TypeError(who() + ": " + what + " dtype " + std::string(py::str(a.dtype())) +
                      ", expected " + dtype_name(dtype_) + " (the block's dtype)");
    if (a.ndim() != 2 || a.shape(0) != dst.rows || a.shape(1) != dst.cols)
      throw ValueError(who() + ": " + what + " shape " + shape_str(a) + ", expected " + want + " " +
                       shape_name);
    if (!(a.flags() & py::array::c_style))
      a = py::module_::import("numpy").attr("ascontiguousarray")(a);
    std::memcpy(dst.data, a.data(), static_cast<std::size_t>(dst.size()) * itemsize(dtype_));
  }

  int n_inputs_;
  std::string name_;
  PyObject* weak_ = nullptr;
  mutable std::mutex cache_mu_;
  mutable std::vector<std::int64_t> cached_in_;
  mutable std::int64_t cached_out_ = 0;
};

}  // namespace

void bind_py_block(py::module_& m) {
  py::class_<PyBlock, Block, std::shared_ptr<PyBlock>>(m, "PyBlock")
      .def(py::init([](const py::object& self, const std::string& dt, int n_inputs,
                       const std::string& name) {
             return std::make_shared<PyBlock>(self, parse_dtype(dt), n_inputs, name);
           }),
           py::arg("owner"), py::arg("dtype"), py::arg("n_inputs"), py::arg("name"))
      .def(
          "add_param",
          [](PyBlock& b, const std::string& name, const py::array& a) {
            // the Python side checked and converted it: C-contiguous, the block's dtype, 1-D or 2-D
            DType dt;
            if (!dtype_of(a, dt) || dt != b.dtype() || (a.ndim() != 1 && a.ndim() != 2) ||
                a.size() == 0 || !(a.flags() & py::array::c_style))
              throw ValueError(b.name() + ": add_param needs a non-empty C-contiguous 1-D or 2-D " +
                               dtype_name(b.dtype()) + " array");
            std::unique_lock<std::mutex> lock;
            {
              NoGil nogil;
              lock = std::unique_lock<std::mutex>(b.mutex());
            }
            b.add_py_param(name, a);
          },
          py::arg("name"), py::arg("value"));
}
