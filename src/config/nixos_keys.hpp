// The keys of a NixOS `containers.<name>` that moat has no feature for.
//
// Theory: `nix eval --json .#nixosConfigurations.H.config.containers` prints
// every option of nixos/modules/virtualisation/nixos-containers.nix, set or
// not, with its default. moat must load that output: each NixOS key is either
// implemented (schema.cpp; `tmpfs` here) or accepted with one notice per
// container and key on stderr ("ignored: containers.web.extraFlags (...)"),
// never silently. A key at its NixOS default (null, [], {}, "1min", true)
// asks for nothing moat does differently, so it makes no notice: otherwise
// every nix-generated file would print a dozen lines that say nothing.
// Keys that would change confinement if ignored (networkNamespace, an
// extraFlags entry about the network) are refused instead: NixOS would run
// the container in a namespace of the user's choosing, moat would leave it
// on the host's network.
#pragma once

#include "config/value_reader.hpp"

#include <string>
#include <vector>

namespace moat::config {

// Appends to `fs` the readers of containers.<c.name>'s NixOS-only keys;
// what they ignore is said in `notices`.
void add_nixos_only_fields(value_reader& r, container& c, std::vector<field>& fs, std::vector<std::string>& notices);

// `nix eval --json .#nixosConfigurations.H.config.containers` prints the set
// itself, without the top-level "containers" key the schema has. True (with
// one diagnostic that says how to wrap it) when `root` looks like that: no
// top-level key of moat's and a table with keys only a container has.
bool bare_containers_set(value_reader& r, const tree_node& root);

}  // namespace moat::config
