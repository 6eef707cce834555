// bindings.hpp — one bind_* function per concept, called by module.cpp.
#pragma once

#include <nanobind/nanobind.h>

namespace courier::python {

void bind_pipeline(nanobind::module_& m);
void bind_request(nanobind::module_& m);
void bind_completions(nanobind::module_& m);
void bind_producer(nanobind::module_& m);
void bind_consumer(nanobind::module_& m);
void bind_admin(nanobind::module_& m);
void bind_lock(nanobind::module_& m);

}  // namespace courier::python
