# Issue 13: `moat check` reports a broken container and goes on with the
# others. The real binary in lab namespaces.
moat_test(check_broken_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/check_broken_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(check_broken_test moat)
