# fuzz_config: arbitrary bytes through both config readers, the mapper,
# validate() and reject_unsupported(). Seeds: tests/fuzz/seeds/config (inputs
# at the readers' nesting limit, and crash_dotted_80kb.toml: the 80 kB dotted
# key that overflowed toml++'s stack, so every run replays it first),
# tests/unit/data/config and examples/;
# dictionary: config.dict. Inputs must be allowed up to 100 kB to reach the
# limits. For example:
#   fuzz_config -dict=tests/fuzz/config.dict -max_len=100000 -max_total_time=60 corpus/ \
#     tests/fuzz/seeds/config tests/unit/data/config examples
add_executable(fuzz_config ${CMAKE_CURRENT_LIST_DIR}/config_fuzz.cpp)
target_link_libraries(fuzz_config PRIVATE moat_config)
target_link_options(fuzz_config PRIVATE -fsanitize=fuzzer)
