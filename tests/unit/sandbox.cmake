# src/sandbox pure logic: the capability/syscall data, the compiled seccomp
# program run through an interpreter, the device allowlist's eBPF program
# run in another, and mountinfo parsing.
moat_test(sandbox_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sandbox_data_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/sandbox_seccomp_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/sandbox_device_filter_test.cpp
  LIBS moat_sandbox moat_sys PkgConfig::SECCOMP)
