#!/bin/sh
# systemd_units_verify: `systemd-analyze verify` on each unit in DIR, a
# template through an instance of it. Fails on any output: verify exits 0
# on unknown keys and unparsable values, which are what it is here to catch.
set -eu
analyze=$1 dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for unit in "$dir"/*.service; do
    name=$(basename "$unit")
    case $name in
        *@.service) name=${name%@.service}@verify.service ;;
    esac
    cp "$unit" "$work/$name"
    out=$("$analyze" verify --man=no "$work/$name" 2>&1) || { echo "$out"; exit 1; }
    if [ -n "$out" ]; then
        echo "$name:"; echo "$out"; exit 1
    fi
    echo "$name: ok"
done
