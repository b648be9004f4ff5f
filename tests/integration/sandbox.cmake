# src/sandbox and src/init as root: privileges dropped for real, cgroups
# created and killed under a per-test path, the device allowlist attached to
# test cgroups and probed by processes born in them, the init as PID 1 of a
# new PID namespace; the seccomp filter against attacks (with unfiltered
# siblings as controls) and real programs under it. The root network
# namespace is never touched: nc and ip run in a private one with only lo,
# made by the child.
moat_test(sandbox_root_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sandbox_privileges_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/sandbox_filter_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/sandbox_cgroup_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/sandbox_device_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/init_pidns_test.cpp
  LIBS moat_sandbox moat_init moat_sys nlohmann_json::nlohmann_json)
target_include_directories(sandbox_root_test PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
