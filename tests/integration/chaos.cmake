# Issue 13: random kill -9 of up/down, damaged or lost state, a second
# instance — with a capture on the wan throughout. In the VPN lab.
moat_test(chaos_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/chaos_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(chaos_test moat)
