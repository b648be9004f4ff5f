# Install rules for the binary, its spiped/spipe links and the example
# configuration. GNUInstallDirs, so --prefix, DESTDIR and a packager's
# CMAKE_INSTALL_* all apply. Man pages, shell completions and systemd units
# have their own install rules next to their sources; rules that install
# units put them in MOAT_SYSTEMD_UNIT_DIR, defined here so that a packager
# sets it in one place.
include(GNUInstallDirs)

# Off by default: Debian's spiped package owns /usr/bin/spiped and
# /usr/bin/spipe. moat behaves as spiped/spipe when invoked under those names
# (src/cli/main.cpp), so a system without spiped can have both from moat.
option(MOAT_INSTALL_SPIPED_LINKS "Install spiped and spipe as symlinks to moat" OFF)

# Relative = under the install prefix (systemd reads both /usr/lib/systemd/system
# and /usr/local/lib/systemd/system). Not CMAKE_INSTALL_LIBDIR: that may be a
# multiarch directory, where systemd does not look. Debian 12's debhelper
# (dh_installsystemd) and lintian want /lib/systemd/system (debian/rules sets it).
set(MOAT_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Directory for systemd units (relative to the install prefix, or absolute)")

install(TARGETS moat RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(MOAT_INSTALL_SPIPED_LINKS)
  # Relative links (`spiped -> moat`), so the tree is relocatable and right
  # under DESTDIR. The prefix is read when installing: `--prefix` may change it.
  if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
    set(moat_bindir "${CMAKE_INSTALL_BINDIR}")
  else()
    set(moat_bindir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
  endif()
  foreach(name spiped spipe)
    install(CODE "
      set(link \"\$ENV{DESTDIR}${moat_bindir}/${name}\")
      message(STATUS \"Installing: \${link} -> moat\")
      file(CREATE_LINK moat \"\${link}\" SYMBOLIC)
      list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"${moat_bindir}/${name}\")
    ")
  endforeach()
endif()

file(GLOB moat_examples ${PROJECT_SOURCE_DIR}/examples/*.toml)
install(FILES ${moat_examples} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
