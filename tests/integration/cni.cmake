# moat as a CNI plugin, driven as libcni drives it (label root; LAB.md).
moat_test(cni_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cni_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cni_test moat)
