# Instances (issue 13): the table's claim and the links' owner alias, as text.
moat_test(ownership_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ownership_test.cpp
  LIBS moat_converge moat_firewall moat_netlink)
