# The documentation against the code (no root needed; label unit).
include(GNUInstallDirs)

# The configuration reference (docs/moat.toml.5.md) against the schema's own
# list of keys (config/schema_keys.hpp).
moat_test(docs_reference_test unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/docs_reference_test.cpp
  LIBS moat_config)

set(moat_docs_checks ${PROJECT_SOURCE_DIR}/tests/docs)
# README.md and docs/*.md stand alone: no link leaves the repository.
add_test(NAME docs_links COMMAND sh ${moat_docs_checks}/links.sh ${PROJECT_SOURCE_DIR})
# moat.1.md has every subcommand and long flag the binary has.
add_test(NAME docs_cli COMMAND sh ${moat_docs_checks}/cli_doc.sh $<TARGET_FILE:moat> ${PROJECT_SOURCE_DIR}/docs/moat.1.md)
set_tests_properties(docs_links docs_cli PROPERTIES LABELS unit)
# The built man pages (docs/CMakeLists.txt, MOAT_MAN) render without a
# warning and install where man(1) finds them.
if(MOAT_MAN_PAGES)
  add_test(NAME docs_man_warnings COMMAND sh ${moat_docs_checks}/man_warnings.sh ${MOAT_MAN_PAGES})
  add_test(NAME docs_man_install
    COMMAND sh ${moat_docs_checks}/man_install.sh ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/man_staging
            ${CMAKE_INSTALL_MANDIR})
  set_tests_properties(docs_man_warnings docs_man_install PROPERTIES LABELS unit)
endif()
