# moat as a CNI plugin, driven as libcni drives it (label root; LAB.md).
moat_test(cni_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_test moat)
# moat chained with Debian's containernetworking-plugins (host-local as its
# IPAM, portmap, tuning, bandwidth, firewall), driven as libcni drives a
# conflist (label root; LAB.md).
moat_test(cni_chain_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_chain_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_chain_test moat)
