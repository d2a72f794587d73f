# Open MPI: flags come from pkg-config (ompi-c), else from `mpicc --showme`.
# We compile with the ordinary compiler so sanitizers and warnings behave the same
# in every layer; only code that calls MPI gets MPI_CFLAGS/MPI_LIBS.

AC_DEFUN([RMPI_CHECK_MPI], [
    PKG_CHECK_MODULES([MPI], [ompi-c], [rmpi_mpi_found=pkg-config], [
        AC_PATH_PROG([MPICC], [mpicc], [])
        AS_IF([test -z "$MPICC"],
            [AC_MSG_ERROR([Open MPI not found (Debian: libopenmpi-dev openmpi-bin); run scripts/install-deps.sh])])
        MPI_CFLAGS=`$MPICC --showme:compile`
        MPI_LIBS=`$MPICC --showme:link`
        rmpi_mpi_found=mpicc
    ])
    rmpi_save_CFLAGS=$CFLAGS
    rmpi_save_LIBS=$LIBS
    CFLAGS="$CFLAGS $MPI_CFLAGS"
    LIBS="$MPI_LIBS $LIBS"
    AC_MSG_CHECKING([for MPI_Init_thread])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <mpi.h>]],
            [[int p; MPI_Init_thread(0, 0, MPI_THREAD_MULTIPLE, &p);]])],
        [AC_MSG_RESULT([yes])],
        [AC_MSG_RESULT([no]); AC_MSG_ERROR([cannot link an MPI program with $MPI_CFLAGS $MPI_LIBS])])
    CFLAGS=$rmpi_save_CFLAGS
    LIBS=$rmpi_save_LIBS
    rmpi_mpi_summary="yes ($rmpi_mpi_found, `pkg-config --modversion ompi-c 2>/dev/null`)"
    AC_SUBST([MPI_CFLAGS])
    AC_SUBST([MPI_LIBS])
])
