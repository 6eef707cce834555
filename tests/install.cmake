# The installed package works for an out-of-tree project (CMake and pkg-config).
add_test(NAME Install.OutOfTreeProjectBuildsAgainstInstalledCourier
  COMMAND ${CMAKE_COMMAND}
    -DBUILD_DIR=${PROJECT_BINARY_DIR}
    -DSOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}/install_consumer
    -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install_check
    -DGENERATOR=${CMAKE_GENERATOR}
    -DCXX=${CMAKE_CXX_COMPILER}
    -P ${CMAKE_CURRENT_SOURCE_DIR}/install_check.cmake)
set_tests_properties(Install.OutOfTreeProjectBuildsAgainstInstalledCourier PROPERTIES TIMEOUT 300)
