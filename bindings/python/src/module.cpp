// courier._native: the compiled half of the courier package. nanobind owns
// the module (and will own the object model of the C++ API); the value
// converter is plain C API functions added to it, because it is the hot path.
#include <nanobind/nanobind.h>

#include "values.hpp"

namespace nb = nanobind;

NB_MODULE(_native, m) {
  m.doc() = "Native core of courier; import the courier package instead.";
  if (PyModule_AddFunctions(m.ptr(), courier::python::value_functions) < 0) throw nb::python_error();
}
