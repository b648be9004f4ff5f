# moat's container init (src/init): run as a child subreaper, no root needed.
moat_test(init_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/init_order_test.cpp ${CMAKE_CURRENT_LIST_DIR}/init_run_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/init_stop_test.cpp ${CMAKE_CURRENT_LIST_DIR}/init_log_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/init_output_test.cpp
  LIBS moat_init moat_sys nlohmann_json::nlohmann_json)
