# CNI plugin mode: the protocol (environment, stdin, versions, results,
# errors), pure.
moat_test(cni_protocol_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_protocol_test.cpp
  LIBS moat_cni_core)
