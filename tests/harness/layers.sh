#!/bin/bash
# Test of scripts/check-layers.sh: in a scratch source tree where every file holds one
# include, the checker must flag exactly the files whose include breaks the layer
# table (with FILE:LINE), pass the rest, and exit 1; on the good files alone it must
# say nothing and exit 0.
#
# Environment (from tests/Makefile.am): top_srcdir (absolute).
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
checker=$top_srcdir/scripts/check-layers.sh

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT

# Headers the includes below point at.
for header in include/raympi.h include/raympi/data.h base/log.h transport/xport.h \
    gpu/gpu.h slurm/slm.h objstore/store.h runtime/rt.h libs/data/data.h \
    libs/train/train.h cli/cli.h tests/unit/helper.h base/sub/detail.h; do
    mkdir -p "$tree/$(dirname "$header")"
    : >"$tree/$header"
done

# add FILE 'INCLUDE LINE': a source file whose third line is the include.
add()
{
    mkdir -p "$tree/$(dirname "$1")"
    printf '/* case */\n\n%s\n' "$2" >"$tree/$1"
}

# Allowed.
add base/good_base.c '#include "base/log.h"'
add base/good_public.c '#include "raympi.h"'
add base/good_local.c '#include "sub/detail.h"'
add base/good_system.c '#include <stdio.h>'
add transport/good.c '#include "base/log.h"'
add objstore/good.c '#include "slurm/slm.h"'
add runtime/good.c '#  include "objstore/store.h"'
add libs/data/good_self.c '#include "libs/data/data.h"'
add libs/data/good_public.c '#include <raympi/data.h>'
add cli/good.c '#include "libs/train/train.h"'
add examples/good.c '#include "runtime/rt.h"'
add tests/good.c '#include "cli/cli.h"'
add include/raympi/good.h '#include "raympi.h"'
# Forbidden.
add include/bad.h '#include "base/log.h"'
add base/bad_up.c '#include "runtime/rt.h"'
add transport/bad_sideways.c '#include "gpu/gpu.h"'
add objstore/bad_up.c '#include "runtime/rt.h"'
add objstore/bad_dotdot.c '#include "../runtime/rt.h"'
add base/bad_angle.c '#include <objstore/store.h>'
add libs/data/bad_core.c '#include "base/log.h"'
add libs/data/bad_other_lib.c '#include "libs/train/train.h"'
add cli/bad_tests.c '#include "tests/unit/helper.h"'

expected=$(
    cd "$tree"
    for f in $(find . -name 'bad*' | sort); do
        echo "$tree/${f#./}:3"
    done
)

rc=0
out=$(bash "$checker" "$tree") || rc=$?
echo "$out"
[[ $rc -eq 1 ]] || {
    echo "FAIL: checker exited $rc on a tree with violations, want 1"
    exit 1
}
got=$(echo "$out" | sed -n 's/^\([^:]*:[0-9]*\): layer [^ ]* may not include .*/\1/p' | sort)
if [[ $got != "$expected" ]]; then
    echo "FAIL: flagged files differ from the bad ones"
    diff <(echo "$expected") <(echo "$got") || true
    exit 1
fi
[[ $(echo "$out" | wc -l) -eq $(echo "$expected" | wc -l) ]] || {
    echo "FAIL: unexpected extra output"
    exit 1
}
grep -q "^$tree/base/bad_up.c:3: layer base may not include runtime/rt.h$" <<<"$out" || {
    echo "FAIL: message format"
    exit 1
}

find "$tree" -name 'bad*' -delete
rc=0
out=$(bash "$checker" "$tree") || rc=$?
[[ $rc -eq 0 && -z $out ]] || {
    echo "FAIL: on good files only: exit $rc, output: $out"
    exit 1
}
echo "PASS: $(echo "$expected" | wc -l) violations flagged, good files passed"
