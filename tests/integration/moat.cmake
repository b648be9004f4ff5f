# Integration tests: the real build/moat driven in lab namespaces (label root).
add_library(moat_lab STATIC ${CMAKE_CURRENT_LIST_DIR}/lab.cpp)
target_compile_definitions(moat_lab PRIVATE
  MOAT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" MOAT_BINARY="$<TARGET_FILE_DIR:moat>/moat")
target_link_libraries(moat_lab PUBLIC GTest::gtest)

moat_test(container_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/container_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
moat_test(lifecycle_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/lifecycle_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(container_test moat)
# Issue 15: the command line's papercuts.
moat_test(cli_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cli_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(cli_test moat)
# Issue 13: bounded, rotated service logs that survive a recreate.
moat_test(logs_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/logs_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
target_include_directories(logs_test PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
add_dependencies(logs_test moat)
add_dependencies(lifecycle_test moat)
moat_test(pipes_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pipes_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(pipes_test moat)
moat_test(network_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/network_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/network_egress_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/network_forward_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/network_names_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(network_test moat)
# The VPN lab fixture (vpn_lab.hpp) proven with real clients, without moat.
moat_test(vpn_lab_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
# VPN egress (issue 5) through the real moat binary, in the VPN lab; the
# privilege tests run attacks with the daemon's credentials through
# moat_tunnel_probe (tunnel_probe.cpp, the runner's own drop function).
add_executable(moat_tunnel_probe ${CMAKE_CURRENT_LIST_DIR}/tunnel_probe.cpp)
target_link_libraries(moat_tunnel_probe PRIVATE moat_tunnel)
moat_test(vpn_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_leak_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_change_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_privsep_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_run_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_forward_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_order_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(vpn_test moat moat_tunnel_probe)
target_compile_definitions(vpn_test PRIVATE MOAT_TUNNEL_PROBE="$<TARGET_FILE:moat_tunnel_probe>")
# Issue 14: OpenVPN providers' files as shipped (relative and /tmp paths,
# credentials, routing lines), against the lab's real server.
moat_test(vpn_provider_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_provider_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(vpn_provider_test moat)
moat_test(check_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/check_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(check_test moat)
moat_test(check_vpn_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/check_vpn_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(check_vpn_test moat)
# Issue 14: the provider's port forwarding (NAT-PMP) against miniupnpd.
moat_test(vpn_portforward_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_portforward_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(vpn_portforward_test moat)
# Issue 14: a tunnel counts as up only with evidence of its far end.
moat_test(check_tunnel_health_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/check_tunnel_health_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(check_tunnel_health_test moat)
# Issue 14: `up` waits until its tunnels pass traffic, exits 1 with the reason.
moat_test(vpn_up_wait_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_up_wait_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(vpn_up_wait_test moat)
# Issue 14: a tunnel whose data path failed gets a new daemon (heal).
moat_test(vpn_heal_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/vpn_heal_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(vpn_heal_test moat)
# Issue 12: attacks from inside containers, each with its positive control.
moat_test(escape_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/escape_test.cpp
  LIBS moat_lab)
add_dependencies(escape_test moat)
# exec/login never hand the operator's terminal or descriptors to a container.
moat_test(exec_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/exec_test.cpp
  LIBS moat_lab)
add_dependencies(exec_test moat)
# Issue 13: moat touches only what it made — across files, damaged state,
# races on the state lock, and a failed `up`.
moat_test(ownership_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ownership_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(ownership_test moat)
moat_test(damaged_state_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/damaged_state_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(damaged_state_test moat)
# Issue 13: bad input of every kind is exit 2 with nothing touched.
moat_test(validate_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/validate_test.cpp
  LIBS moat_lab moat_sandbox moat_sys nlohmann_json::nlohmann_json)
add_dependencies(validate_test moat)
# Issue 17: `up`'s fork server, driven directly.
moat_test(fork_server_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fork_server_test.cpp
  LIBS moat_container moat_sys)
