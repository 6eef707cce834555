# Install rules: the library, its public headers, an exported CMake package
# (find_package(courier CONFIG) -> courier::courier) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS courier EXPORT courierTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${COURIER_PUBLIC_HEADERS} ${PROJECT_BINARY_DIR}/include/courier/export.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/courier)

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/courier)
install(EXPORT courierTargets NAMESPACE courier:: DESTINATION ${config_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/courierConfig.cmake.in
  ${PROJECT_BINARY_DIR}/courierConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/courierConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/courierConfig.cmake ${PROJECT_BINARY_DIR}/courierConfigVersion.cmake
  DESTINATION ${config_dir})

# The .pc finds its prefix relative to itself, so an install moved or made
# with `cmake --install --prefix` elsewhere still works.
file(RELATIVE_PATH COURIER_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file(${PROJECT_SOURCE_DIR}/cmake/courier.pc.in ${PROJECT_BINARY_DIR}/courier.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/courier.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
