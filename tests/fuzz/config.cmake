# fuzz_config: arbitrary bytes through both config readers, the mapper,
# validate() and reject_unsupported(). Seeds: tests/unit/data/config and
# examples/; dictionary: config.dict. For example:
#   fuzz_config -dict=tests/fuzz/config.dict -max_total_time=60 corpus/ tests/unit/data/config examples
add_executable(fuzz_config ${CMAKE_CURRENT_LIST_DIR}/config_fuzz.cpp)
target_link_libraries(fuzz_config PRIVATE moat_config)
target_link_options(fuzz_config PRIVATE -fsanitize=fuzzer)
