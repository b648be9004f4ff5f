# A container reaches nothing of the host unless its configuration says so:
# the host's services and resolver, the raw-frame attack on its loopback,
# route_localnet following the forwards, and `moat check`'s host-access
# check (label root; LAB.md).
moat_test(network_host_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/network_host_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/network_host_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/network_localnet_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/check_host_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(network_host_test moat)
