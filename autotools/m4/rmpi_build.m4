# Build-mode switches: --enable-debug, --enable-sanitizers, pthreads.

AC_DEFUN([RMPI_CHECK_DEBUG], [
    AC_ARG_ENABLE([debug],
        [AS_HELP_STRING([--enable-debug], [build with -O0 -g3, assertions and trace logging])],
        [rmpi_debug=$enableval], [rmpi_debug=no])
    AS_IF([test "x$rmpi_debug" = xyes],
        [RMPI_CFLAGS="-O0 -g3"
         AC_DEFINE([RMPI_DEBUG], [1], [debug build: assertions and trace logs compiled in])],
        [RMPI_CFLAGS="-O2 -g"])
    RMPI_CFLAGS="$RMPI_CFLAGS -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes -fvisibility=hidden"
    AC_SUBST([RMPI_CFLAGS])
])

AC_DEFUN([RMPI_CHECK_SANITIZERS], [
    AC_ARG_ENABLE([sanitizers],
        [AS_HELP_STRING([--enable-sanitizers=LIST],
            [build with the comma-separated sanitizers LIST (e.g. address,undefined)])],
        [rmpi_sanitizers=$enableval], [rmpi_sanitizers=])
    AS_IF([test "x$rmpi_sanitizers" = xyes], [rmpi_sanitizers=address,undefined])
    AS_IF([test "x$rmpi_sanitizers" = xno], [rmpi_sanitizers=])
    RMPI_SAN_FLAGS=
    AS_IF([test -n "$rmpi_sanitizers"], [
        RMPI_SAN_FLAGS="-fsanitize=$rmpi_sanitizers -fno-omit-frame-pointer -fno-sanitize-recover=all"
        rmpi_save_CFLAGS=$CFLAGS
        CFLAGS="$CFLAGS $RMPI_SAN_FLAGS"
        rmpi_save_LDFLAGS=$LDFLAGS
        LDFLAGS="$LDFLAGS $RMPI_SAN_FLAGS"
        AC_MSG_CHECKING([whether $CC accepts -fsanitize=$rmpi_sanitizers])
        AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])], [AC_MSG_RESULT([yes])],
            [AC_MSG_RESULT([no])
             AC_MSG_ERROR([the compiler rejects -fsanitize=$rmpi_sanitizers])])
        CFLAGS=$rmpi_save_CFLAGS
        LDFLAGS=$rmpi_save_LDFLAGS
    ])
    AC_SUBST([RMPI_SAN_FLAGS])
    AM_CONDITIONAL([RMPI_SANITIZED], [test -n "$rmpi_sanitizers"])
])

AC_DEFUN([RMPI_CHECK_PTHREAD], [
    AC_CHECK_HEADER([pthread.h], [], [AC_MSG_ERROR([pthread.h is required])])
    AC_SEARCH_LIBS([pthread_create], [pthread], [],
        [AC_MSG_ERROR([POSIX threads are required])])
])
