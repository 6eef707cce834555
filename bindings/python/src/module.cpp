// courier._native: the compiled half of the courier package. nanobind owns
// the object model of the C++ API (one bind_* per concept, bindings.hpp);
// the value converter is plain C API functions added to it, because it is
// the hot path.
#include <nanobind/nanobind.h>

#include "bindings.hpp"
#include "errors.hpp"
#include "options.hpp"
#include "resource.hpp"
#include "values.hpp"

namespace nb = nanobind;

NB_MODULE(_native, m) {
  m.doc() = "Native core of courier; import the courier package instead.";
  if (PyModule_AddFunctions(m.ptr(), courier::python::value_functions) < 0) throw nb::python_error();
  // Objects still alive at exit are closed by close_all() (atexit); those a
  // reference cycle keeps until the very end are not leaks worth a warning.
  nb::set_leak_warnings(false);
  courier::python::register_errors(m);
  courier::python::bind_options(m);
  courier::python::bind_pipeline(m);
  courier::python::bind_completions(m);
  courier::python::bind_request(m);
  courier::python::bind_producer(m);
  courier::python::bind_consumer(m);
  courier::python::bind_admin(m);
  courier::python::bind_lock(m);
  m.def("_close_all", &courier::python::close_all, "Close every live courier object (atexit hook).");
}
