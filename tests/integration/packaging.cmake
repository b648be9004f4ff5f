# Issue 15: `cmake --install` of this build into a staging dir, checked
# (tests/packaging/install_tree.sh). Label packaging; needs no root.
add_test(NAME install_tree
  COMMAND sh ${PROJECT_SOURCE_DIR}/tests/packaging/install_tree.sh
          ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} $<TARGET_FILE:moat>)
set_tests_properties(install_tree PROPERTIES LABELS packaging TIMEOUT 120)

# The .deb built from a copy of the sources, linted, installed into a
# throw-away root and run there (tests/packaging/deb_test.sh). It compiles moat
# once more, so it is registered only when asked for (scripts/test.sh does),
# and runs alone so that the compile does not skew timing-sensitive tests.
option(MOAT_DEB_TEST "Register the test that builds and installs the .deb (slow; needs root)" OFF)
if(MOAT_DEB_TEST)
  add_test(NAME deb_package
    COMMAND sh ${PROJECT_SOURCE_DIR}/tests/packaging/deb_test.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/deb-test)
  set_tests_properties(deb_package PROPERTIES LABELS "packaging;root" TIMEOUT 2400 RUN_SERIAL TRUE)
endif()
