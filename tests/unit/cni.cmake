# CNI plugin mode: the protocol (environment, stdin, versions, results,
# errors), pure.
moat_test(cni_protocol_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_protocol_test.cpp
  LIBS moat_cni_core)
# IPAM delegation: the `ipam` key, leases, and the delegate exec against
# plugin scripts (no root).
moat_test(cni_ipam_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_ipam_test.cpp
  LIBS moat_cni_core)
