# Issue 13: two moat instances (state directories) in one network namespace,
# proof of ownership on kernel objects, and `moat gc` without a state dir.
moat_test(instances_test root
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/network_lab.cpp
    ${CMAKE_CURRENT_LIST_DIR}/instances_test.cpp
  LIBS moat_lab moat_state nlohmann_json::nlohmann_json)
add_dependencies(instances_test moat)
