# Issue 15: the installed bash, zsh and fish completion (dist/completion),
# from a staging `cmake --install` of this build, against a container that
# `moat up` made in a lab namespace.
moat_test(completion_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/completion_test.cpp
  LIBS moat_lab moat_plan moat_state moat_sys)
target_compile_definitions(completion_test PRIVATE
  MOAT_CMAKE="${CMAKE_COMMAND}" MOAT_BUILD_DIR="${PROJECT_BINARY_DIR}")
add_dependencies(completion_test moat)
