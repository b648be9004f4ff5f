# moat pipe: interop with Debian's spiped on the loopback of a network
# namespace of the test's own (pipe_main.cpp; no root needed).
add_executable(moat_pipe_driver ${CMAKE_CURRENT_LIST_DIR}/pipe_driver.cpp)
target_link_libraries(moat_pipe_driver PRIVATE moat_pipe)

moat_test(pipe_integration_test integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pipe_test.cpp ${CMAKE_CURRENT_LIST_DIR}/pipe_behaviour_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/pipe_harness.cpp ${CMAKE_CURRENT_LIST_DIR}/pipe_main.cpp
  LIBS moat_pipe)
add_dependencies(pipe_integration_test moat_pipe_driver moat)
target_compile_definitions(pipe_integration_test PRIVATE
  MOAT_PIPE_DRIVER="$<TARGET_FILE:moat_pipe_driver>")
