# The Python binding (bindings/python): built with `pip install .` into a
# virtual environment under the build directory, as a user would, then its
# pytest suite (which includes mypy's stubtest of the stubs).
add_test(NAME python_binding COMMAND ${PROJECT_SOURCE_DIR}/bindings/python/run_tests.sh -q)
set_tests_properties(python_binding PROPERTIES
  ENVIRONMENT "COURIER_BUILD_DIR=${PROJECT_BINARY_DIR}"
  TIMEOUT 900)
