# libslurm, cmocka and libFuzzer.

AC_DEFUN([RMPI_CHECK_SLURM], [
    AC_ARG_WITH([slurm],
        [AS_HELP_STRING([--with-slurm@<:@=DIR@:>@], [libslurm prefix (default: system)])],
        [], [with_slurm=yes])
    SLURM_CFLAGS=
    SLURM_LIBS=
    AS_IF([test "x$with_slurm" != xno && test "x$with_slurm" != xyes], [
        SLURM_CFLAGS="-I$with_slurm/include"
        SLURM_LIBS="-L$with_slurm/lib"
    ])
    rmpi_save_CPPFLAGS=$CPPFLAGS
    rmpi_save_LIBS=$LIBS
    CPPFLAGS="$CPPFLAGS $SLURM_CFLAGS"
    LIBS="$SLURM_LIBS $LIBS"
    AC_CHECK_HEADER([slurm/slurm.h],
        [AC_CHECK_LIB([slurm], [slurm_hostlist_create], [rmpi_slurm=yes], [rmpi_slurm=no])],
        [rmpi_slurm=no])
    AS_IF([test "x$rmpi_slurm" = xno],
        [AC_MSG_ERROR([libslurm not found (Debian: libslurm-dev); run scripts/install-deps.sh])])
    SLURM_LIBS="$SLURM_LIBS -lslurm"
    CPPFLAGS=$rmpi_save_CPPFLAGS
    LIBS=$rmpi_save_LIBS
    AC_COMPUTE_INT([rmpi_slurm_vnum], [SLURM_VERSION_NUMBER],
        [[#include <slurm/slurm_version.h>]], [rmpi_slurm_vnum=0])
    rmpi_slurm_summary="yes (`printf '%d.%02d.%d' $((rmpi_slurm_vnum >> 16)) $(((rmpi_slurm_vnum >> 8) & 255)) $((rmpi_slurm_vnum & 255))`)"
    AC_SUBST([SLURM_CFLAGS])
    AC_SUBST([SLURM_LIBS])
])

AC_DEFUN([RMPI_CHECK_CMOCKA], [
    PKG_CHECK_MODULES([CMOCKA], [cmocka >= 1.1],
        [rmpi_cmocka_summary="yes (`pkg-config --modversion cmocka`)"],
        [AC_MSG_ERROR([cmocka not found (Debian: libcmocka-dev); run scripts/install-deps.sh])])
])

# libFuzzer needs clang; the fuzz targets are built only with --enable-fuzzers.
AC_DEFUN([RMPI_CHECK_FUZZER], [
    AC_ARG_ENABLE([fuzzers],
        [AS_HELP_STRING([--enable-fuzzers], [build libFuzzer targets (needs CC=clang)])],
        [rmpi_fuzzer=$enableval], [rmpi_fuzzer=no])
    AS_IF([test "x$rmpi_fuzzer" = xyes], [
        rmpi_save_CFLAGS=$CFLAGS
        CFLAGS="$CFLAGS -fsanitize=fuzzer-no-link"
        AC_MSG_CHECKING([whether $CC supports -fsanitize=fuzzer])
        AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])], [AC_MSG_RESULT([yes])],
            [AC_MSG_RESULT([no]); AC_MSG_ERROR([--enable-fuzzers needs clang with libFuzzer])])
        CFLAGS=$rmpi_save_CFLAGS
    ])
    rmpi_fuzzer_summary=$rmpi_fuzzer
    AM_CONDITIONAL([RMPI_FUZZERS], [test "x$rmpi_fuzzer" = xyes])
])
