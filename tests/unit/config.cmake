# Config loader tests (no root needed).
moat_test(config_test unit
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/config_load_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_errors_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_validate_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_json_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_probe_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_limits_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_addresses_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_confined_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_port_forwarding_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_nixos_test.cpp
  LIBS moat_config GTest::gmock)
