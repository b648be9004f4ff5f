# Issue 15, "Boot": the systemd unit's ExecStart=/ExecStopPost= lines in the
# lab (readiness over NOTIFY_SOCKET, restart of a dead init, delegated
# cgroups, clean stop, kill -9 recovery) and `check --watch` as a watchdog.
moat_test(boot_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boot_test.cpp
  LIBS moat_lab nlohmann_json::nlohmann_json)
add_dependencies(boot_test moat)
