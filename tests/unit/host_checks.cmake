# Plans against the host and the containers that keep running (no root needed).
moat_test(host_checks_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/plan_host_checks_test.cpp
  LIBS moat_plan moat_config moat_sys GTest::gmock)
