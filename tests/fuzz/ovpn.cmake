# fuzz_ovpn: a provider's .ovpn through the sanitiser; openvpn's own reading
# of the daemon's copy (openvpn_reference.hpp) may find no forbidden option.
add_executable(fuzz_ovpn ${CMAKE_CURRENT_LIST_DIR}/ovpn_fuzz.cpp)
target_link_libraries(fuzz_ovpn PRIVATE moat_ovpn_file)
target_link_options(fuzz_ovpn PRIVATE -fsanitize=fuzzer)
