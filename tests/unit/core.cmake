# Pure logic without root: addresses, planning, the state store.
moat_test(core_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/inet_test.cpp ${CMAKE_CURRENT_LIST_DIR}/plan_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/plan_network_test.cpp ${CMAKE_CURRENT_LIST_DIR}/plan_tunnel_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/plan_digest_test.cpp ${CMAKE_CURRENT_LIST_DIR}/plan_changes_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp ${CMAKE_CURRENT_LIST_DIR}/tunnel_ovpn_file_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/tunnel_health_test.cpp ${CMAKE_CURRENT_LIST_DIR}/tunnel_wait_test.cpp ${CMAKE_CURRENT_LIST_DIR}/tunnel_heal_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/tunnel_natpmp_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/plan_port_forwarding_test.cpp
  LIBS moat_config moat_converge moat_plan moat_state moat_sys moat_tunnel OpenSSL::Crypto)
# Paths inside a container's root and uid ranges (no root needed).
moat_test(container_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/container_inside_test.cpp
  LIBS moat_container)
# A child sharing the caller's memory until it execs (sys/spawn.hpp).
moat_test(spawn_test unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/spawn_test.cpp LIBS moat_sys)
# Text of containers and daemons made safe for the operator's terminal.
moat_test(printable_test unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/printable_test.cpp LIBS moat_sys)
