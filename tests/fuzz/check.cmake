# fuzz_dns: the DNS response parser of `moat check`, fed what a resolver
# could send back. For example:
#   fuzz_dns -max_total_time=60 corpus/
add_executable(fuzz_dns ${CMAKE_CURRENT_LIST_DIR}/dns_fuzz.cpp)
target_link_libraries(fuzz_dns PRIVATE moat_check_wire)
target_link_options(fuzz_dns PRIVATE -fsanitize=fuzzer)
