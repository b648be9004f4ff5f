# fish completion for moat(1).
#
# Knows nothing of moat's verbs: it hands the words up to the cursor to
# `moat __complete -- WORD... CUR` and shows what that prints (the protocol
# is in src/cli/complete.hpp): a directive line (:words, :files EXT...,
# :dirs, :default) and then the candidates, one per line, "WORD<TAB>TEXT".

function __moat_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l out (command $tokens[1] __complete -- $tokens[2..-1] "$cur" 2>/dev/null)
    or return 0
    set -l directive $out[1]
    # A file or directory as the value of --flag=VALUE: complete the VALUE.
    set -l pre (string match -r -- '^-[^=]*=' $cur)
    test -n "$pre"; and set cur (string replace -- $pre '' $cur)
    switch $directive
        case ':files' ':default'
            __fish_complete_path "$cur" | string replace -r -- '^' "$pre"
        case ':files *'
            set -l exts (string split ' ' -- (string replace ':files ' '' -- $directive))
            for f in "$cur"*
                if test -d $f
                    echo "$pre$f/"
                else if contains -- (string replace -r '.*\.' '' -- $f) $exts
                    echo "$pre$f"
                end
            end
        case ':dirs'
            __fish_complete_directories "$cur" | string replace -r -- '^' "$pre"
        case '*'
            printf '%s\n' $out[2..-1]
    end
end

complete -c moat -f -a '(__moat_complete)'
