# bash completion for moat(1).
#
# Knows nothing of moat's verbs: it hands the words up to the cursor to
# `moat __complete -- WORD... CUR` and shows what that prints (the protocol
# is in src/cli/complete.hpp): a directive line (:words, :files EXT...,
# :dirs, :default) and then the candidates, one per line, "WORD<TAB>TEXT".
# Works without the bash-completion package.

_moat() {
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words=()
    read -ra words <<<"$line"
    # The cursor after a blank: an empty word is being completed.
    if [[ ${#words[@]} -le 1 || $line == *[[:space:]] ]]; then
        words+=("")
    fi
    local out
    out=$("${words[0]}" __complete -- "${words[@]:1}" 2>/dev/null) || return 0
    local directive=${out%%$'\n'*} rest=""
    [[ $out == *$'\n'* ]] && rest=${out#*$'\n'}

    # What moat calls the current word may be longer than bash's: bash also
    # splits at ':' and '=' (COMP_WORDBREAKS), e.g. "vpn:" "t" for vpn:t.
    local cur=${words[-1]} bcur=${COMP_WORDS[COMP_CWORD]}
    [[ $bcur == [:=] ]] && bcur=""
    local cut=0
    [[ $cur == *"$bcur" ]] && cut=$((${#cur} - ${#bcur}))

    COMPREPLY=()
    local l f
    case $directive in
    ":files"*)
        compopt -o filenames 2>/dev/null
        local -a exts=(${directive#:files})
        while IFS= read -r f; do
            [[ -z $f ]] && continue
            if [[ -d $f || ${#exts[@]} -eq 0 ]]; then
                COMPREPLY+=("$f")
                continue
            fi
            for l in "${exts[@]}"; do
                [[ $f == *."$l" ]] && COMPREPLY+=("$f") && break
            done
        done < <(compgen -f -- "$bcur")
        ;;
    ":dirs")
        compopt -o filenames 2>/dev/null
        while IFS= read -r f; do
            [[ -n $f ]] && COMPREPLY+=("$f")
        done < <(compgen -d -- "$bcur")
        ;;
    ":default")
        compopt -o bashdefault -o default 2>/dev/null
        ;;
    *)
        while IFS= read -r l; do
            [[ -n $l ]] && COMPREPLY+=("${l%%$'\t'*}")
        done <<<"$rest"
        if ((cut > 0)); then
            local i
            for i in "${!COMPREPLY[@]}"; do
                COMPREPLY[i]=${COMPREPLY[i]:cut}
            done
        fi
        ;;
    esac
    return 0
}

complete -F _moat moat
