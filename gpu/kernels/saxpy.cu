// gpu/kernels/saxpy.cu - y = a * x + y over n floats (a built-in test and example kernel).
extern "C" __global__ void saxpy(int n, float a, const float *x, float *y)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;

    if (i < n) {
        y[i] = a * x[i] + y[i];
    }
}
