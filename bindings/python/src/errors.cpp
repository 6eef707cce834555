#include "errors.hpp"

#include <courier/errors.hpp>
#include <courier/lock.hpp>

#include <nanobind/stl/string.h>

#include <string>

namespace nb = nanobind;

namespace courier::python {
namespace {

// The classes live in courier/errors.py (plain Python, so they carry normal
// __init__s and docstrings); looked up once, on the first error.
nb::object error_class(const char* name) {
  // Leaked on purpose: a static nb::object would be released after the
  // interpreter is gone.
  static PyObject* module = nb::module_::import_("courier.errors").release().ptr();
  return nb::handle(module).attr(name);
}

nb::object from_courier(const Error& e) {
  const char* what = e.what();
  if (auto* r = dynamic_cast<const RemoteError*>(&e))
    return error_class("RemoteError")(what, r->status(), r->reason());
  if (auto* d = dynamic_cast<const DecodeError*>(&e))
    return error_class("DecodeError")(what, d->expected(), d->found());
  if (auto* l = dynamic_cast<const LockLostError*>(&e))
    return error_class("LockLostError")(what, to_string(l->loss()));
  switch (e.code()) {
    case ErrorCode::decode: return error_class("DecodeError")(what);
    case ErrorCode::protocol: return error_class("ProtocolError")(what);
    case ErrorCode::timeout: return error_class("TimeoutError")(what);
    case ErrorCode::remote: return error_class("RemoteError")(what);
    case ErrorCode::journal: return error_class("JournalError")(what);
    case ErrorCode::config: return error_class("ConfigError")(what);
    case ErrorCode::closed: return error_class("ClosedError")(what);
  }
  return error_class("Error")(what);
}

void raise(const nb::object& error) { PyErr_SetObject((PyObject*)Py_TYPE(error.ptr()), error.ptr()); }

}  // namespace

nb::object python_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return from_courier(e);
  } catch (const nb::python_error& e) {
    return nb::borrow(e.value());
  } catch (const std::exception& e) {
    return nb::borrow(PyExc_RuntimeError)(e.what());
  } catch (...) {
    return nb::borrow(PyExc_RuntimeError)("unknown C++ exception");
  }
}

void register_errors(nb::module_&) {
  // Only courier::Error is ours; anything else goes on to nanobind's own
  // translators (bad_alloc -> MemoryError, ...), by rethrowing.
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      raise(from_courier(e));
    }
  });
}

}  // namespace courier::python
