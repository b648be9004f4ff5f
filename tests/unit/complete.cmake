# Issue 15: `moat __complete`, the shells' source of verbs, flags and names,
# through the real binary on state directories the test writes.
moat_test(complete_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/complete_test.cpp
  LIBS moat_lab moat_plan moat_state moat_sys)
add_dependencies(complete_test moat)
