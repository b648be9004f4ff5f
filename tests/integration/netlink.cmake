# moat::netlink against the real kernel, inside throw-away network namespaces
# (LAB.md); needs root.
moat_test(netlink_integration_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/netlink_link_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/netlink_address_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/netlink_route_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/netlink_rule_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/netlink_netns_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/netlink_loopback_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/netlink_conntrack_test.cpp
  LIBS moat_netlink nlohmann_json::nlohmann_json)
target_include_directories(netlink_integration_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
