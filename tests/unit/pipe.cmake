# moat pipe: packet format, HMAC/PBKDF2/DH against second computation paths,
# the handshake state machine, address syntax, option parsing.
moat_test(pipe_unit_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pipe_crypto_test.cpp ${CMAKE_CURRENT_LIST_DIR}/pipe_handshake_test.cpp
  LIBS moat_pipe OpenSSL::Crypto)  # the tests check against libcrypto directly
