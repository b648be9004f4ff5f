# What a command loads to start: libcrypto and libnftables only on the paths that use them.
moat_test(startup_test unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/startup_test.cpp)
add_dependencies(startup_test moat)
