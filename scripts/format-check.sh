#!/bin/bash
# format-check.sh SRCDIR - check the formatting of the C files changed on this branch.
#
# Run by `make format-check`. Only changed lines are checked, so old code is never
# reformatted by the way:
#   - tracked files: `git clang-format --diff` against the merge-base with origin/main
#     when there is one, else against HEAD (covers staged and unstaged changes);
#   - new files git does not know yet (untracked, not ignored): the whole file;
#   - a repository without commits: every C file, whole.
# The style is SRCDIR/.clang-format. Prints the diff that would fix the formatting
# and exits 1 if there is one. Exits 0 with a note when SRCDIR is no git checkout
# (a release tarball) or clang-format is missing; 2 on errors.
#
# Environment: CLANG_FORMAT, GIT_CLANG_FORMAT override the tools' paths.

if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

readonly ME=format-check.sh
readonly C_FILES=('*.c' '*.h')

# first_tool VAR NAME...: the value of the variable VAR if set, else the first NAME
# on PATH; empty if none.
first_tool()
{
    local override=${!1:-} name
    shift
    if [[ -n $override ]]; then
        echo "$override"
        return
    fi
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return
        fi
    done
}

# The commit to compare with: merge-base with origin/main, else HEAD, else none.
base_commit()
{
    git rev-parse -q --verify 'HEAD^{commit}' >/dev/null || return 0
    if git rev-parse -q --verify 'origin/main^{commit}' >/dev/null; then
        git merge-base origin/main HEAD
    else
        git rev-parse HEAD
    fi
}

# whole_file_diff FILE...: a diff from each FILE to its formatted self (empty if none).
whole_file_diff()
{
    local file
    for file in "$@"; do
        "$clang_format" --style=file "$file" | diff -u --label "a/$file" --label "b/$file" "$file" - ||
            true
    done
}

# Changed lines of tracked files, as a diff; empty if they are formatted.
tracked_diff()
{
    local base=$1 out
    out=$("$git_clang_format" --binary "$clang_format" --style file --extensions c,h \
        --diff "$base" -- 2>&1) || {
        echo "$ME: git clang-format failed:" >&2
        echo "$out" >&2
        exit 2
    }
    # git-clang-format 14 exits 0 either way; a diff is the only sign of a problem.
    if grep -q '^diff --git' <<<"$out"; then
        echo "$out"
    fi
}

main()
{
    local base diff
    local -a files
    if (($# != 1)) || [[ ! -d $1 ]]; then
        echo "usage: $ME SRCDIR" >&2
        exit 2
    fi
    cd "$1"
    if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        echo "$ME: $1 is not a git checkout; nothing to compare with, skipping"
        exit 0
    fi
    cd "$(git rev-parse --show-toplevel)"
    clang_format=$(first_tool CLANG_FORMAT clang-format-14 clang-format)
    git_clang_format=$(first_tool GIT_CLANG_FORMAT git-clang-format-14 git-clang-format)
    if [[ -z $clang_format || -z $git_clang_format ]]; then
        echo "$ME: clang-format or git-clang-format not found (Debian: clang-format); skipping"
        exit 0
    fi

    base=$(base_commit)
    if [[ -n $base ]]; then
        mapfile -t files < <(git ls-files --others --exclude-standard -- "${C_FILES[@]}")
    else
        mapfile -t files < <(git ls-files --cached --others --exclude-standard -- "${C_FILES[@]}")
    fi
    diff=$(
        [[ -z $base ]] || tracked_diff "$base"
        ((${#files[@]} == 0)) || whole_file_diff "${files[@]}"
    )

    if [[ -n $diff ]]; then
        echo "$diff"
        echo "$ME: the C files above are not formatted; fix with clang-format -i FILE," \
            "or git clang-format for changed lines only" >&2
        exit 1
    fi
    echo "$ME: formatting OK (compared with ${base:-nothing: no commits yet})"
}

main "$@"
