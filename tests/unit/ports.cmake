# Busy host ports (converge/ports.hpp): claims and the overlap rule, pure.
moat_test(ports_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ports_test.cpp
  LIBS moat_converge moat_config moat_plan moat_netlink moat_sys)
