# Issue 15, "Boot": sd_notify and the delegated cgroup's path (no root needed).
moat_test(boot_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boot_unit_test.cpp
  LIBS moat_sandbox moat_sys)
