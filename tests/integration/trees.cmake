# Issue 17: the host side's copy of the host's root (container/trees.hpp),
# made in a child's private mount namespace: what it holds and what it
# leaves out. Needs root (mount namespaces, open_tree).
moat_test(trees_test root
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/trees_test.cpp
  LIBS moat_container moat_sys)
