// Bindings of the graph executor: one native call per forward, backward or
// training step, with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>

#include "binding_utils.h"
#include "bricks/graph.h"
#include "bricks/trainer.h"
#include "sigint_guard.h"

namespace py = pybind11;
using namespace bricks;

namespace {

// The executor, plus the arrays its last forward viewed without copying (predict,
// evaluate, train_step): held until the next forward, so no later call (a backward,
// a value()) can read memory Python has freed. Its trainer lives as long: after
// train_batches the input nodes view the trainer's batch buffers.
struct PyGraph : Graph {
  using Graph::Graph;
  std::vector<py::array> held;
  Trainer trainer{*this};  // guarded by the graph's mutex, like the graph
};

py::array copy_out(const Tensor& t, bool flat) {
  std::vector<py::ssize_t> shape =
      flat ? std::vector<py::ssize_t>{t.rows} : std::vector<py::ssize_t>{t.rows, t.cols};
  py::array a(numpy_dtype(t.dtype), shape);
  std::memcpy(a.mutable_data(), t.data, static_cast<std::size_t>(t.size()) * itemsize(t.dtype));
  return a;
}

// Copies t into a (its shape, dtype, C order and writability checked: out= arrays).
void copy_into(py::array& a, const Tensor& t) {
  const bool shape_ok = a.ndim() == 2 ? a.shape(0) == t.rows && a.shape(1) == t.cols
                                      : a.ndim() == 1 && t.cols == 1 && a.shape(0) == t.rows;
  if (!shape_ok || !a.dtype().is(numpy_dtype(t.dtype)) || !(a.flags() & py::array::c_style) ||
      !a.writeable())
    throw ValueError("Model: out= must be a writeable C-contiguous " +
                     std::string(dtype_name(t.dtype)) + " array of shape (" +
                     std::to_string(t.rows) + ", " + std::to_string(t.cols) + ")");
  std::memcpy(a.mutable_data(), t.data, static_cast<std::size_t>(t.size()) * itemsize(t.dtype));
}

// Views of the arrays (None -> empty; misaligned ones copied); `keep` holds them.
std::vector<Tensor> views(const py::list& xs, std::vector<py::array>& keep, const char* what) {
  std::vector<Tensor> v;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].is_none()) {
      v.push_back({});
      continue;
    }
    keep.push_back(aligned(py::cast<py::array>(xs[i])));
    v.push_back(as_tensor(keep.back(), "Model", std::string(what) + " " + std::to_string(i)));
  }
  return v;
}

// Runs work() without the GIL, holding the graph's and its blocks' mutexes. A call
// that runs a forward passes `viewed`: the arrays it views without copying (empty
// if it copied them), which replace g.held whether work() returned or threw; other
// calls pass null and leave g.held as it is. Then, still under the locks and with
// the GIL, after() builds the result.
template <class Work, class After>
auto locked(PyGraph& g, std::vector<py::array>* viewed, Work work, After after) {
  LockSet lock;
  struct Hold {  // runs with the GIL back and the locks still held
    PyGraph& g;
    std::vector<py::array>* b;
    ~Hold() {
      if (b) g.held.swap(*b);
    }
  } hold{g, viewed};
  {
    NoGil nogil;
    lock.lock(g.lock_order());
    work();
  }
  return after();
}

}  // namespace

void bind_graph(py::module_& m) {
  py::class_<PyGraph>(m, "Graph")
      .def(py::init(
          [](const std::string& dt) { return std::make_unique<PyGraph>(parse_dtype(dt)); }))
      .def("add_input", &Graph::add_input, py::arg("features"), py::arg("labels"))
      .def("add_node", &Graph::add_node, py::arg("block"), py::arg("inputs"))
      .def("set_outputs", &Graph::set_outputs)
      .def("set_losses", &Graph::set_losses)
      .def("set_node_name", &Graph::set_node_name, py::arg("node"), py::arg("name"))
      .def(
          "forward",
          [](PyGraph& g, const py::list& xs, bool with_losses, bool copy, bool inference,
             const py::object& out) {
            std::vector<py::array> keep, none;  // copied inputs: nothing stays viewed
            auto in = views(xs, keep, "input");
            // out: one array per output to write into (checked here, before the work)
            std::vector<py::array> dst;
            if (!out.is_none()) {
              for (auto o : py::cast<py::list>(out)) dst.push_back(py::cast<py::array>(o));
              if (dst.size() != g.outputs().size())
                throw ValueError("Model: out= expected " + std::to_string(g.outputs().size()) +
                                 " array(s), got " + std::to_string(dst.size()));
            }
            return locked(
                g, copy ? &none : &keep, [&] { g.forward(in, with_losses, copy, inference); },
                [&]() -> py::object {
                  if (!dst.empty()) {
                    for (std::size_t i = 0; i < dst.size(); ++i)
                      copy_into(dst[i], g.value(g.outputs()[i]));
                    return py::none();
                  }
                  py::list outs;
                  for (int id : g.outputs()) outs.append(copy_out(g.value(id), false));
                  return outs;
                });
          },
          py::arg("xs"), py::arg("with_losses"), py::arg("copy"), py::arg("inference") = false,
          py::arg("out") = py::none())
      .def("backward",
           [](PyGraph& g, const py::list& dys, double loss_scale, bool want_inputs) {
             std::vector<py::array> keep;
             auto d = views(dys, keep, "output gradient");
             return locked(
                 g, nullptr, [&] { g.backward(d, loss_scale, want_inputs); },
                 [&] {
                   py::list res;
                   for (int id : g.inputs()) {
                     Tensor t = g.grad(id);
                     if (want_inputs && t)
                       res.append(copy_out(t, false));
                     else
                       res.append(py::none());
                   }
                   return res;
                 });
           })
      .def("train_step",
           [](PyGraph& g, const py::list& xs, Optimizer& opt) {
             std::vector<py::array> keep;
             auto in = views(xs, keep, "input");
             double loss = 0;
             return locked(g, &keep, [&] { loss = g.train_step(in, opt); }, [&] { return loss; });
           })
      .def("train_step_if_fits",  // the hot path: None (nothing done) unless every array already
                                  // fits
           [](PyGraph& g, const py::tuple& xs, Optimizer& opt) -> py::object {
             const auto& ids = g.inputs();
             if (xs.size() != ids.size()) return py::none();
             std::vector<Tensor> in(ids.size());
             std::vector<py::array> keep;
             keep.reserve(ids.size());
             for (std::size_t k = 0; k < ids.size(); ++k) {
               if (!py::isinstance<py::array>(xs[k])) return py::none();
               auto a = py::reinterpret_borrow<py::array>(xs[k]);
               const bool labels = g.input_is_labels(static_cast<int>(k));
               const DType want = labels ? DType::i64 : g.dtype();
               DType got;
               if (!dtype_of(a, got) || got != want || a.ndim() != (labels ? 1 : 2) ||
                   !(a.flags() & py::array::c_style) ||
                   reinterpret_cast<std::uintptr_t>(a.data()) % itemsize(want) != 0)
                 return py::none();
               in[k].dtype = want;
               in[k].data = const_cast<void*>(a.data());
               in[k].rows = a.shape(0);
               in[k].cols = labels ? 1 : a.shape(1);
               keep.push_back(a);
             }
             double loss = 0;
             return locked(
                 g, &keep, [&] { loss = g.train_step(in, opt); },
                 [&] { return py::object(py::float_(loss)); });
           })
      .def("check_data",
           [](PyGraph& g, const py::list& xs) {
             std::vector<py::array> keep;
             auto in = views(xs, keep, "data");  // the input nodes view them afterwards
             std::int64_t n = 0;
             return locked(g, &keep, [&] { n = g.check_data(in); }, [&] { return n; });
           })
      .def(
          "train_batches",
          [](PyGraph& g, const py::list& xs,
             const py::array_t<std::int64_t, py::array::c_style>& order, std::int64_t batch_size,
             std::int64_t first, std::int64_t count, Optimizer& opt, Accuracy acc, int labels_input,
             double threshold, NonFinite guard, bool interruptible,
             const std::optional<py::array_t<double, py::array::c_style>>& sample_weight,
             const py::object& allreduce, std::int64_t rank, std::int64_t ranks) {
            std::vector<py::array> keep;
            auto in = views(xs, keep, "data");
            const double* w = nullptr;
            if (sample_weight) {
              const std::int64_t rows = in.empty() ? 0 : in[0].rows;
              if (sample_weight->ndim() != 1 || sample_weight->size() != rows)
                throw py::value_error("Model: sample_weight must have one entry per sample (" +
                                      std::to_string(rows) + ")");
              w = sample_weight->data();
            }
            // data parallel: allreduce(flat) sums a NumPy view of the trainer's buffer
            // over the processes, in place (with the GIL: mpi4py releases it to wait)
            Allreduce reduce;
            if (!allreduce.is_none()) {
              if (!PyCallable_Check(allreduce.ptr()))
                throw py::type_error("train_batches: allreduce must be callable");
              reduce = [&allreduce](Tensor t) {
                py::gil_scoped_acquire gil;
                py::array view(py::dtype(t.dtype == DType::f32 ? "float32" : "float64"), {t.size()},
                               {}, t.data, py::none());
                allreduce(view);
              };
            }
            const TrainOptions opts{
                acc, labels_input, threshold, guard, w, reduce ? &reduce : nullptr, rank, ranks};
            TrainStats st;
            SigintGuard sigint(g, interruptible);
            // batches are gathered into the trainer's buffers; what an earlier forward
            // viewed stays held in case this call fails before its own forward
            locked(
                g, nullptr,
                [&] {
                  st = g.trainer.train_batches(in, order.data(), order.size(), batch_size, first,
                                               count, opt, opts);
                },
                [] { return 0; });
            sigint.finish();
            return st;
          },
          py::arg("data"), py::arg("order"), py::arg("batch_size"), py::arg("first"),
          py::arg("count"), py::arg("optimizer"), py::arg("accuracy"), py::arg("labels_input"),
          py::arg("threshold"), py::arg("guard"), py::arg("interruptible"),
          py::arg("sample_weight") = py::none(), py::arg("allreduce") = py::none(),
          py::arg("rank") = 0, py::arg("ranks") = 1)
      .def(
          "set_sample_weight",
          [](PyGraph& g, const std::optional<py::array_t<double, py::array::c_style>>& w) {
            const double* p = w ? w->data() : nullptr;
            const std::int64_t n = w ? static_cast<std::int64_t>(w->size()) : 0;
            return locked(g, nullptr, [&] { g.set_sample_weight(p, n); }, [] { return 0; });
          },
          py::arg("sample_weight"),
          "Per-sample weights for every loss of the following forwards (None: unweighted).")
      .def_property_readonly("loss",
                             [](PyGraph& g) {
                               double v = 0;
                               return locked(g, nullptr, [&] { v = g.loss(); }, [&] { return v; });
                             })
      .def_property_readonly("forward_serial",
                             [](PyGraph& g) {
                               std::uint64_t v = 0;
                               return locked(
                                   g, nullptr, [&] { v = g.forward_serial(); }, [&] { return v; });
                             })
      .def("value",
           [](PyGraph& g, int id) {
             return locked(g, nullptr, [] {}, [&] { return copy_out(g.value(id), false); });
           })
      .def("data_address",  // where input k's data of the last forward lives (zero-copy checks)
           [](const PyGraph& g, int k) {
             return reinterpret_cast<std::uintptr_t>(g.value(g.inputs().at(k)).data);
           })
      .def("features", [](const PyGraph& g, int id) { return g.node_shape(id).cols; })
      .def("zero_grad",
           [](PyGraph& g) { locked(g, nullptr, [&] { g.zero_grad(); }, [] { return 0; }); })
      .def("set_training",
           [](PyGraph& g, bool on) {
             locked(g, nullptr, [&] { g.set_training(on); }, [] { return 0; });
           })
      .def_property_readonly("num_nodes", &Graph::num_nodes);
}
