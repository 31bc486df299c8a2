// The finite-value check that guards every entry point taking float data (model
// inputs, output gradients, a block's own inputs and dy): NaN/inf never reach a kernel.
#pragma once
#include <string>

#include "bricks/tensor.h"

namespace bricks {

// Throws ValueError "<who>: <what> must be finite, got ... at row r, column c" for
// the first non-finite element of a float tensor.
void check_finite(const Tensor& t, const std::string& who, const std::string& what);

// Checks a block's hyperparameter (a slope, alpha, beta, threshold): finite (and, if
// `positive`, > 0) once rounded to the block's dtype, which is how the kernels use it.
// Throws ValueError "<who>: <what> must be a finite number [> 0] [in float32], got v".
void check_hyperparameter(double v, DType dtype, const std::string& who, const std::string& what,
                          bool positive = false);

}  // namespace bricks
