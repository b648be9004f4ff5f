# fuzz_pipe: the handshake state machine and the packet reader.
add_executable(fuzz_pipe ${CMAKE_CURRENT_LIST_DIR}/pipe_fuzz.cpp)
target_link_libraries(fuzz_pipe PRIVATE moat_pipe)
target_link_options(fuzz_pipe PRIVATE -fsanitize=fuzzer)
