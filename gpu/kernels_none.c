/*
 * gpu/kernels_none.c - the built-in kernel table of a build without nvcc:
 * empty, so gpu_builtin_function() reports RMPI_ERR_UNSUPPORTED.
 */
#include "gpu/gpu_int.h"

const gpu_builtin_image_t gpu_builtin_images[]   = {{NULL, NULL, 0}};
const size_t              gpu_num_builtin_images = 0;
