#!/bin/bash
# check-layers.sh SRCDIR - check that every layer includes only headers it may use.
#
# Run by `make check` (check-local in the top Makefile.am). The layers and what each
# may include (docs/layout.md explains why):
#
#   include/                 include
#   base/                    include base
#   transport/ gpu/ slurm/   include base, and itself
#   objstore/                include base transport gpu slurm objstore
#   runtime/                 the above and runtime
#   libs/NAME/               include, and libs/NAME itself
#   cli/ bench/ examples/    every layer but tests
#   tests/                   everything (not scanned)
#
# Checked: `#include "X"` lines in .c and .h files of those folders. X is resolved the
# way the compiler does: next to the including file first, then from SRCDIR (the
# build's -I$(top_srcdir)), and raympi.h / raympi/... from include/. `#include <...>`
# is left alone (system headers), unless it names a project file other than the
# public raympi headers, which are fine everywhere.
#
# Prints FILE:LINE: layer L may not include X for each violation; exits 1 if any,
# 0 quietly otherwise, 2 on usage errors.

if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

readonly LAYERS_BELOW_OBJSTORE="include base transport gpu slurm"
readonly APP_LAYERS="include base transport gpu slurm objstore runtime libs cli bench examples"
readonly SCANNED="include base transport gpu slurm objstore runtime libs cli bench examples"

# Helpers below return their result in REPLY: no subshell per include line.

# allowed_layers LAYER: the layers LAYER may include ("libs" = any libs/NAME).
allowed_layers()
{
    case $1 in
    include) REPLY="include" ;;
    base) REPLY="include base" ;;
    transport | gpu | slurm) REPLY="include base $1" ;;
    objstore) REPLY="$LAYERS_BELOW_OBJSTORE objstore" ;;
    runtime) REPLY="$LAYERS_BELOW_OBJSTORE objstore runtime" ;;
    libs/* | libs) REPLY="include $1" ;;
    cli | bench | examples) REPLY="$APP_LAYERS" ;;
    *) REPLY="" ;;
    esac
}

# layer_of PATH: the layer of a SRCDIR-relative path (libs/NAME for the libraries);
# empty if the path is in no layer.
layer_of()
{
    local first=${1%%/*} rest=${1#*/}
    REPLY=
    [[ $1 == */* ]] || return 0
    case $first in
    libs)
        REPLY=libs
        [[ $rest != */* ]] || REPLY="libs/${rest%%/*}"
        ;;
    include | base | transport | gpu | slurm | objstore | runtime | cli | bench | examples | tests)
        REPLY=$first
        ;;
    esac
}

# normalize PATH: drop "." and resolve ".." textually, as the preprocessor does.
normalize()
{
    local part
    local -a out=()
    local IFS=/
    for part in $1; do
        case $part in
        '' | .) ;;
        ..) ((${#out[@]} == 0)) || unset 'out[-1]' ;;
        *) out+=("$part") ;;
        esac
    done
    REPLY="${out[*]}"
}

# resolve FILE KIND NAME: the SRCDIR-relative path an include names, or empty for a
# header outside the project. KIND is " for "..." includes and < for <...>.
resolve()
{
    local file=$1 kind=$2 name=$3
    case $name in
    raympi.h | raympi/*)
        REPLY="include/$name"
        return
        ;;
    esac
    if [[ $kind == '"' ]]; then
        normalize "${file%/*}/$name" # next to the including file first
        [[ -f $REPLY ]] && return
        normalize "$name"
    elif [[ -f $name ]]; then
        normalize "$name" # <base/x.h> still names our base/x.h
    else
        REPLY=
    fi
}

# check_include FILE LINE KIND NAME: print a violation if FILE's layer may not use NAME.
check_include()
{
    local file=$1 line=$2 kind=$3 name=$4 from to allowed
    layer_of "$file"
    from=$REPLY
    resolve "$file" "$kind" "$name"
    [[ -n $REPLY ]] || return 0
    layer_of "$REPLY"
    to=$REPLY
    [[ -n $to ]] || return 0 # e.g. config.h: generated, in no layer
    allowed_layers "$from"
    allowed=" $REPLY "
    [[ $allowed == *" $to "* ]] && return 0
    [[ $to == libs/* && $allowed == *" libs "* ]] && return 0
    echo "$srcdir_shown$file:$line: layer $from may not include $name"
    return 1
}

# Every include line of the scanned folders as FILE<TAB>LINE<TAB>KIND<TAB>NAME.
list_includes()
{
    local -a dirs=()
    local d
    for d in $SCANNED; do
        [[ -d $d ]] && dirs+=("$d")
    done
    ((${#dirs[@]})) || return 0
    # shellcheck disable=SC2016 # $0 is awk's
    find "${dirs[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z |
        xargs -0 -r awk '
            match($0, /^[ \t]*#[ \t]*include[ \t]*["<][^">]+[">]/) {
                s = substr($0, RSTART, RLENGTH)
                sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s)
                printf "%s\t%d\t%s\t%s\n", FILENAME, FNR, substr(s, 1, 1), substr(s, 2, length(s) - 2)
            }'
}

main()
{
    local file line kind name violations=0
    if (($# != 1)) || [[ ! -d $1 ]]; then
        echo "usage: check-layers.sh SRCDIR" >&2
        exit 2
    fi
    srcdir_shown=${1%/}/
    [[ $srcdir_shown == ./ ]] && srcdir_shown=
    cd "$1" # paths below are relative to SRCDIR
    while IFS=$'\t' read -r file line kind name; do
        check_include "$file" "$line" "$kind" "$name" || violations=$((violations + 1))
    done < <(list_includes)
    ((violations == 0)) || exit 1
}

main "$@"
