# moat as a CNI plugin, driven as libcni drives it (label root; LAB.md).
moat_test(cni_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_test moat)
# Pods confined to a tunnel of a moat file, in the VPN lab (vpn_lab.hpp).
moat_test(cni_vpn_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_vpn_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_vpn_test moat)

# DEL deletes the pod's conntrack entries and no others (label root).
moat_test(cni_conntrack_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_conntrack_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_conntrack_test moat)

# moat under a real engine: Buildah with runc on "type": "moat" networks.
moat_test(cni_engine_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_engine_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_engine_test moat)
# moat chained with Debian's containernetworking-plugins (host-local as its
# IPAM, portmap, tuning, bandwidth, firewall), driven as libcni drives a
# conflist (label root; LAB.md).
moat_test(cni_chain_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_chain_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_chain_test moat)
# CNI ADD/DEL change the table in place; the result is a full commit's.
moat_test(cni_incremental_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_incremental_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_incremental_test moat)
