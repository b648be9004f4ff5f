# fuzz_printable: text of containers and daemons made safe for the
# operator's terminal (sys/printable.hpp).
add_executable(fuzz_printable ${CMAKE_CURRENT_LIST_DIR}/printable_fuzz.cpp)
target_link_libraries(fuzz_printable PRIVATE moat_sys)
target_link_options(fuzz_printable PRIVATE -fsanitize=fuzzer)
