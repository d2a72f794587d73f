// gpu/kernels/empty.cu - a kernel that does nothing: measures launch overhead.
extern "C" __global__ void empty(void)
{
}
