# moat_soname(VAR NAME FALLBACK [HINTS dir...]): the SONAME of libNAME.so as
# found at configure time, for a library moat opens when first used
# (src/sys/shared_library.hpp) instead of linking it; FALLBACK when the
# library or objdump cannot be read.
function(moat_soname var name fallback)
  cmake_parse_arguments(arg "" "" "HINTS" ${ARGN})
  set(soname ${fallback})
  find_library(moat_soname_${name} ${name} HINTS ${arg_HINTS})
  if(moat_soname_${name} AND CMAKE_OBJDUMP)
    execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${moat_soname_${name}} OUTPUT_VARIABLE dump ERROR_QUIET)
    if(dump MATCHES "SONAME +([^ \n]+)")
      set(soname ${CMAKE_MATCH_1})
    endif()
  endif()
  set(${var} ${soname} PARENT_SCOPE)
endfunction()
