// Array checks and error translation shared by the binding sources.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bricks/tensor.h"

namespace bricks {

namespace py = pybind11;

DType parse_dtype(const std::string& s);
// The array's dtype if it is float32, float64 or int64 (compared by value); false otherwise.
bool dtype_of(const py::array& a, DType& out);
py::dtype numpy_dtype(DType dt);
// A view of a C-contiguous float32/float64/int64 array of rank 1 (a column) or 2.
// Never copies: anything else is a TypeError/ValueError naming `who` and `what`.
Tensor as_tensor(const py::array& a, const std::string& who, const std::string& what);
void register_errors(py::module_& m);

}  // namespace bricks
