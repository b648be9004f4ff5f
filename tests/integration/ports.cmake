# Issue 13: `moat up` refuses a forward or host pipe on a port a host socket
# holds. The real binary in lab namespaces.
moat_test(ports_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ports_test.cpp
  LIBS moat_lab)
add_dependencies(ports_test moat)
