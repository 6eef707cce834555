// errors.hpp — C++ courier::*Error to the Python classes of courier.errors.
//
// Contract
// - register_errors() installs one nanobind exception translator: every
//   courier::Error thrown out of a bound function becomes the matching
//   courier.<Name> with its attributes (status/reason, expected/found, loss).
// - python_error() builds that exception object from an exception_ptr, for
//   outcomes that arrive through futures instead of a throw.
// - Threading: both need the GIL.
#pragma once

#include <nanobind/nanobind.h>

#include <exception>

namespace courier::python {

void register_errors(nanobind::module_& m);

// New exception instance for `error` (a courier::Error, a std::exception or
// anything else, the last two as RuntimeError). Needs the GIL.
nanobind::object python_error(const std::exception_ptr& error);

}  // namespace courier::python
