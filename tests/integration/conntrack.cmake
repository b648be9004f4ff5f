# `moat down` deletes the removed container's conntrack entries and no
# others: NAT'ed egress and forwards, read with conntrack(8) in the lab's
# host (label root; LAB.md). The CNI DEL case is in cni.cmake.
moat_test(conntrack_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/conntrack_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(conntrack_test moat)
