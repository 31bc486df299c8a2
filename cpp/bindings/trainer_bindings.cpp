// The trainer's modes and result as Python names: Graph.train_batches
// (graph_bindings.cpp) takes _core.Accuracy / _core.NonFinite and returns TrainStats.
#include <pybind11/pybind11.h>

#include "bricks/trainer.h"

namespace py = pybind11;
using namespace bricks;

void bind_trainer(py::module_& m) {
  py::enum_<Accuracy>(m, "Accuracy", "Accuracy counted while training.")
      .value("none", Accuracy::none)
      .value("argmax", Accuracy::argmax, "argmax of output 0 against int64 labels")
      .value("threshold", Accuracy::threshold, "output 0 above the threshold against 0/1 targets");
  // the names are fit's on_nonfinite strings: NonFinite.__members__[on_nonfinite]
  py::enum_<NonFinite>(m, "NonFinite", "What training does on a NaN/inf loss, gradient or weight.")
      .value("ignore", NonFinite::ignore)
      .value("raise", NonFinite::raise)
      .value("skip", NonFinite::skip);
  py::class_<TrainStats>(m, "TrainStats", "Sums over the batches of train_batches calls.")
      .def(py::init<>())
      .def_readonly("loss_sum", &TrainStats::loss_sum,
                    "sum over samples of the per-batch mean loss")
      .def_readonly("samples", &TrainStats::samples)
      .def_readonly("correct", &TrainStats::correct)
      .def_readonly("batches", &TrainStats::batches)
      .def_readonly("skipped", &TrainStats::skipped)
      .def("__add__", [](TrainStats a, const TrainStats& b) { return a += b; })
      .def("__repr__", [](const TrainStats& s) {
        return py::str("TrainStats(loss_sum={!r}, samples={}, correct={}, batches={}, skipped={})")
            .format(s.loss_sum, s.samples, s.correct, s.batches, s.skipped);
      });
}
