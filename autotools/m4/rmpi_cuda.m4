# The CUDA toolkit is optional. The build needs only cuda.h (libcuda.so.1 is
# opened with dlopen at run time) and nvcc for kernels. Without it, GPU support
# reports itself absent at run time and the rest of ray-mpi works the same.

AC_DEFUN([RMPI_CHECK_CUDA], [
    AC_ARG_WITH([cuda],
        [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@],
            [CUDA toolkit prefix (default: /usr/local/cuda when present)])],
        [], [with_cuda=check])
    rmpi_cuda=no
    rmpi_cuda_summary="no (GPU support absent)"
    CUDA_CFLAGS=
    NVCC=
    AS_CASE([$with_cuda],
        [no], [],
        [yes|check], [rmpi_cuda_dir=/usr/local/cuda],
        [rmpi_cuda_dir=$with_cuda])
    AS_IF([test "x$with_cuda" != xno], [
        rmpi_save_CPPFLAGS=$CPPFLAGS
        CPPFLAGS="$CPPFLAGS -I$rmpi_cuda_dir/include"
        AC_CHECK_HEADER([cuda.h], [rmpi_cuda=yes], [rmpi_cuda=no])
        CPPFLAGS=$rmpi_save_CPPFLAGS
        AS_IF([test "x$rmpi_cuda" = xyes], [
            CUDA_CFLAGS="-I$rmpi_cuda_dir/include"
            AC_PATH_PROG([NVCC], [nvcc], [], [$rmpi_cuda_dir/bin:$PATH])
            AC_DEFINE([RMPI_HAVE_CUDA], [1], [cuda.h is available])
            rmpi_cuda_summary="yes ($rmpi_cuda_dir, nvcc: ${NVCC:-none})"
        ], [
            AS_IF([test "x$with_cuda" != xcheck],
                [AC_MSG_ERROR([--with-cuda given but cuda.h not found in $rmpi_cuda_dir/include])])
        ])
    ])
    AC_SUBST([CUDA_CFLAGS])
    AC_SUBST([NVCC])
    AM_CONDITIONAL([RMPI_HAVE_CUDA], [test "x$rmpi_cuda" = xyes])
    AM_CONDITIONAL([RMPI_HAVE_NVCC], [test -n "$NVCC"])
])
