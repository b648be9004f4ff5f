# bench/lab.sh — sourced by the bench scripts: the lab they share.
#
# A lab is two network namespaces the script names: a "host" one with a fake
# uplink (veth up0 203.0.113.10/24, default route via 203.0.113.1) and a
# "wan" one holding 203.0.113.1 on the other end. moat takes the default
# route's device as the uplink, so a lab without that route would measure
# something else: lab_uplink refuses to return one.
# Nothing here touches the machine's own namespace.

# lab_uplink HOST_NS WAN_NS
lab_uplink() {
    local h=$1 w=$2
    ip netns add "$h"
    ip netns add "$w"
    ip -n "$h" link set lo up
    ip -n "$w" link set lo up
    ip -n "$h" link add up0 type veth peer name wan0 netns "$w"
    ip -n "$h" addr add 203.0.113.10/24 dev up0
    ip -n "$w" addr add 203.0.113.1/24 dev wan0
    ip -n "$h" link set up0 up
    ip -n "$w" link set wan0 up
    ip -n "$h" route add default via 203.0.113.1
    [[ $(ip -n "$h" route show default) == *"dev up0"* ]] || { echo "bench: lab $h has no uplink" >&2; return 1; }
}

# lab_extra_links HOST_NS: what links the host namespace holds beyond lo and
# the uplink, as "N links (a b c...)"; "" when none.
lab_extra_links() {
    local links
    links=$(ip -n "$1" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); if ($2 != "lo" && $2 != "up0") print $2 }')
    [[ -z $links ]] || echo "$(wc -l <<<"$links") links ($(head -3 <<<"$links" | tr '\n' ' ' | sed 's/ $//'))"
}

# lab_firewall HOST_NS: "T nft tables, C chains, R rules" left in the host
# namespace; "" when its ruleset is empty.
lab_firewall() {
    nsenter --net=/run/netns/"$1" nft list ruleset 2>/dev/null | awk '
        /^table / { t++; next } /^[ \t]*chain / { c++; next } /^[ \t]*(type |}|$)/ { next } { r++ }
        END { if (t) printf "%d nft tables, %d chains, %d rules", t, c, r }'
}
