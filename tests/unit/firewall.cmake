# moat::firewall without root: rendering, validation, and libnftables's own
# parser/evaluator in dry-run mode inside a private (user+)network namespace.
moat_test(firewall_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/firewall_render_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/firewall_dry_run_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/firewall_render_vpn_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/firewall_forwarding_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/firewall_incremental_test.cpp
  LIBS moat_firewall)
