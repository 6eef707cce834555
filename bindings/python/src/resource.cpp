#include "resource.hpp"

#include "options.hpp"

#include <unistd.h>

#include <unordered_set>
#include <vector>

namespace nb = nanobind;

namespace courier::python {
namespace {

// Live resources; guarded by the GIL. Leaked on purpose: it must outlive
// every object, whatever order the interpreter frees things in.
std::unordered_set<Resource*>& live() {
  static auto* set = new std::unordered_set<Resource*>();
  return *set;
}

bool finalizing() noexcept {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

}  // namespace

Resource::Resource(const char* kind) : kind_(kind), pid_(getpid()) { live().insert(this); }

Resource::~Resource() { live().erase(this); }

void Resource::throw_closed() const {
  throw ClosedError(std::string(kind_) + " is closed: make a new one");
}

void Resource::close() { close_with(take()); }

void Resource::close_with(std::shared_ptr<void> taken) noexcept {
  closed_.store(true);
  if (!taken) return;
  if (getpid() != pid_) {
    new std::shared_ptr<void>(std::move(taken));  // inherited across fork(): leaked on purpose
    return;
  }
  if (finalizing()) {
    taken.reset();  // the GIL cannot be handed back and forth any more
    return;
  }
  nb::gil_scoped_release unlocked;
  taken.reset();  // the C++ destructor: bounded, needs no GIL
}

void close_all() {
  std::vector<Resource*> all(live().begin(), live().end());
  for (Resource* r : all) {
    if (live().count(r)) r->close();
  }
  release_default_context();
}

}  // namespace courier::python
