// Test-only stand-in for the moat CLI: `moat_pipe_driver pipe|spipe|keygen ARGS`
// calls the moat::pipe entry points, so the pipe's tests do not depend on
// src/cli wiring.
#include <cstdio>
#include <cstring>

#include "pipe/pipe.hpp"

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "pipe") == 0) {
        return moat::pipe::spiped_main(argc - 1, argv + 1);
    }
    if (argc >= 2 && std::strcmp(argv[1], "spipe") == 0) {
        return moat::pipe::spipe_main(argc - 1, argv + 1);
    }
    if (argc == 3 && std::strcmp(argv[1], "keygen") == 0) {
        return moat::pipe::keygen_main(argv[2]);
    }
    std::fprintf(stderr, "usage: moat_pipe_driver pipe|spipe ARGS... | keygen FILE\n");
    return 2;
}
