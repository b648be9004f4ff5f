# moat::firewall against the real kernel in throw-away network namespaces
# (LAB.md): the table's lifecycle, and real TCP traffic through veth pairs.
moat_test(firewall_integration_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/firewall_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/firewall_table_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/firewall_traffic_test.cpp
  LIBS moat_firewall)
target_include_directories(firewall_integration_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
