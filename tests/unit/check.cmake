# The wire formats of `moat check` (DNS, the leak filter run by an
# interpreter): pure, no root needed.
moat_test(check_wire_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/check_wire_test.cpp
  LIBS moat_check_wire)
