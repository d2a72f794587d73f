#!/bin/bash
# cli.sh - the `ray-mpi` command as a user meets it.
#
# Checks help, version, `info -c`, usage errors (exit 2 with a message), the
# environment `run` gives a program (local launch, and inside a launched job),
# the hello example on 2 ranks, and `bench --list` / `bench --json`.
# The checks that start MPI processes are skipped (and say so) without mpirun.
#
# Environment (from tests/Makefile.am): top_builddir (absolute), RMPI_MPIRUN.
set -uo pipefail

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
ray_mpi=$top_builddir/cli/ray-mpi
failures=0

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

# Start from a clean slate: not inside a job, no ray-mpi settings.
unset SLURM_PROCID OMPI_COMM_WORLD_RANK PMIX_RANK RAYMPI_JOB_ID RAYMPI_CONFIG_FILE \
    RAYMPI_LOG_LEVEL UCX_NET_DEVICES

# run_cmd CMD...: run it; status in $rc, output in $tmp/out and $tmp/err.
run_cmd()
{
    rc=0
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# check FUNCTION DESCRIPTION: FUNCTION runs a command with run_cmd and returns
# success when its result is right.
check()
{
    if "$1"; then
        echo "ok: $2"
    else
        echo "FAIL: $2 (exit status $rc)"
        echo "--- stdout:" && cat "$tmp/out"
        echo "--- stderr:" && cat "$tmp/err"
        failures=$((failures + 1))
    fi
}

# A usage error: exit 2, one line naming the problem and pointing at --help.
is_usage_error()
{
    [[ $rc -eq 2 ]] && grep -q -- "$1" "$tmp/err" && grep -q 'see ray-mpi --help' "$tmp/err"
}

help_names_commands()
{
    run_cmd "$ray_mpi" --help
    [[ $rc -eq 0 ]] && grep -qw run "$tmp/out" && grep -qw info "$tmp/out" &&
        grep -qw bench "$tmp/out"
}

help_of_command()
{
    run_cmd "$ray_mpi" help run
    [[ $rc -eq 0 ]] && grep -q -- '--config FILE' "$tmp/out"
}

version_from_configure()
{
    local version
    version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
    run_cmd "$ray_mpi" --version
    [[ -n $version && $rc -eq 0 ]] && head -n 1 "$tmp/out" | grep -qx "ray-mpi $version"
}

info_prints_job()
{
    run_cmd env RAYMPI_JOB_ID=cli-test-job RAYMPI_RUN_DIR_BASE="$tmp/runs" "$ray_mpi" info
    [[ $rc -eq 0 ]] && grep -q '^job id: *cli-test-job' "$tmp/out" &&
        grep -q "^run dir: *$tmp/runs/cli-test-job\$" "$tmp/out"
}

# The value `info -c` prints for RAYMPI_LOG_LEVEL, with the environment in "$@".
log_level_shown()
{
    run_cmd env "$@" "$ray_mpi" info -c
    [[ $rc -eq 0 ]] && sed -n 's/^RAYMPI_LOG_LEVEL=//p' "$tmp/out"
}

info_lists_log_level()
{
    local default_level debug_level
    default_level=$(log_level_shown) || return 1
    debug_level=$(log_level_shown RAYMPI_LOG_LEVEL=debug) || return 1
    echo "default '$default_level', with RAYMPI_LOG_LEVEL=debug '$debug_level'" >>"$tmp/out"
    [[ -n $default_level && $default_level != debug && $debug_level == debug ]]
}

info_help_keys()
{
    run_cmd "$ray_mpi" info -c --help-keys
    [[ $rc -eq 0 ]] && grep -q '^RAYMPI_LOG_LEVEL=' "$tmp/out" &&
        (($(wc -l <"$tmp/out") > $(grep -c '^RAYMPI_' "$tmp/out")))
}

bogus_option()
{
    run_cmd "$ray_mpi" --bogus-option ./app
    is_usage_error "unknown option '--bogus-option'" || return 1
    run_cmd "$ray_mpi" info --bogus-option
    is_usage_error "unknown option '--bogus-option'"
}

bad_rank_count()
{
    run_cmd "$ray_mpi" -n zero /bin/true
    is_usage_error "-n expects"
}

missing_program()
{
    run_cmd "$ray_mpi" -n 2 "$tmp/no-such-program"
    is_usage_error "program '$tmp/no-such-program' not found" || return 1
    run_cmd "$ray_mpi" -n 2
    is_usage_error "missing PROGRAM"
}

not_executable()
{
    touch "$tmp/plain-file"
    run_cmd "$ray_mpi" "$tmp/plain-file"
    is_usage_error "not an executable file"
}

missing_config_file()
{
    run_cmd "$ray_mpi" --config "$tmp/no-such.conf" /bin/true
    is_usage_error "cannot read config file"
}

# Outside Slurm: status needs a job, submit a program (tests/slurm/ run them for real).
status_submit_outside_slurm()
{
    run_cmd env -u SLURM_JOB_ID -u SLURM_JOBID -u RAYMPI_JOB_ID "$ray_mpi" status
    [[ $rc -eq 2 ]] && grep -q 'not inside a Slurm job' "$tmp/err" || return 1
    run_cmd "$ray_mpi" submit
    is_usage_error "missing PROGRAM"
}

# Inside a launched job `run` only sets RAYMPI_CONFIG_FILE (absolute) and execs.
run_inside_job()
{
    echo 'LOG_LEVEL = debug' >"$tmp/test.conf"
    run_cmd env OMPI_COMM_WORLD_RANK=0 sh -c "cd '$tmp' && '$ray_mpi' --config test.conf env"
    [[ $rc -eq 0 ]] && grep -qx "RAYMPI_CONFIG_FILE=$tmp/test.conf" "$tmp/out" &&
        ! grep -q '^RAYMPI_JOB_ID=' "$tmp/out"
}

# A local launch pins Open MPI and UCX to loopback and fixes one job id for all
# ranks, keeping what the user set.
run_local_env()
{
    run_cmd env UCX_NET_DEVICES=user-choice "$ray_mpi" -n 2 env
    [[ $rc -eq 0 ]] && (($(grep -c '^RAYMPI_JOB_ID=local-[0-9]*$' "$tmp/out") == 2)) &&
        (($(sort -u "$tmp/out" | grep -c '^RAYMPI_JOB_ID=') == 1)) &&
        grep -qx 'OMPI_MCA_btl_tcp_if_include=lo' "$tmp/out" &&
        grep -qx 'OMPI_MCA_oob_tcp_if_include=lo' "$tmp/out" &&
        grep -qx 'UCX_NET_DEVICES=user-choice' "$tmp/out"
}

hello_on_two_ranks()
{
    run_cmd "$ray_mpi" -n 2 "$top_builddir/examples/hello"
    [[ $rc -eq 0 ]] && (($(grep -c '^rank [01]/2 on .* (pid [0-9]*): ray-mpi ' "$tmp/out") == 2)) &&
        grep -q '^hello: 2 ranks up, job local-[0-9]*$' "$tmp/out"
}

bench_list()
{
    run_cmd "$ray_mpi" bench --list
    [[ $rc -eq 0 ]] && grep -q '^base_mpsc_rate ' "$tmp/out" &&
        grep -q '^base_hash_find_rate ' "$tmp/out"
}

bench_unknown_name()
{
    run_cmd "$ray_mpi" bench no_such_benchmark
    [[ $rc -eq 2 ]] && grep -q "unknown benchmark 'no_such_benchmark'; valid names:.* base_hash_find_rate" "$tmp/err"
}

# Every line is a JSON object with name, a numeric value and a unit.
bench_json()
{
    run_cmd "$ray_mpi" bench --quick --json base_hash_find_rate
    [[ $rc -eq 0 && -s $tmp/out ]] && python3 -c '
import json, sys
for line in open(sys.argv[1]):
    rec = json.loads(line)
    assert isinstance(rec["value"], (int, float)) and rec["unit"], rec
    assert rec["name"].startswith("base_hash_find"), rec
' "$tmp/out" 2>>"$tmp/err"
}

check help_names_commands "--help exits 0 and names run, info and bench"
check help_of_command "help run prints the run usage"
check version_from_configure "--version prints the version configure set"
check info_prints_job "info prints the job id and run dir"
check info_lists_log_level "info -c lists RAYMPI_LOG_LEVEL and follows the environment"
check info_help_keys "info -c --help-keys adds help text"
check bogus_option "an unknown option exits 2 with a message"
check bad_rank_count "a bad -n exits 2 with a message"
check missing_program "a missing program exits 2 with a message"
check not_executable "a file that is not executable exits 2 with a message"
check missing_config_file "an unreadable --config file exits 2 with a message"
check status_submit_outside_slurm "status outside a job and submit without PROGRAM are usage errors"
check run_inside_job "inside a job, run execs the program with RAYMPI_CONFIG_FILE"
check bench_list "bench --list lists the base benchmarks"
check bench_unknown_name "bench with an unknown name exits 2 listing valid names"

if command -v "${RMPI_MPIRUN:-mpirun}" >/dev/null 2>&1; then
    check run_local_env "a local launch sets loopback, one job id, and keeps user settings"
    check hello_on_two_ranks "ray-mpi -n 2 hello: two ranks report, rank 0 sums up"
    if command -v python3 >/dev/null 2>&1; then
        check bench_json "bench --quick --json prints JSON lines"
    else
        echo "skipped: bench --json check (no python3)"
    fi
else
    echo "skipped: checks that start MPI processes (no mpirun)"
fi

echo "cli.sh: $failures failure(s)"
((failures == 0))
