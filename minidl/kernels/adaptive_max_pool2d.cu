// dtypes: float16 float32 float64
// Adaptive max pooling of NCHW planes: output bin i of an axis with n inputs and o outputs covers
// inputs [floor(i * n / o), ceil((i + 1) * n / o)). Input h lies in the bins
// [floor(h * o / n), ceil((h + 1) * o / n)): the same two formulas with n and o swapped, which is
// how the backward (one thread per input pixel, gathering, no atomics) finds the bins to visit.
//
// CPU twins: `minidl/functional/adaptive_pooling.py::AdaptiveMaxPool2d.forward_cpu` (forward) and
// `minidl/functional/pooling_common.py::scatter_argmax` (backward).

__device__ inline int bin_start(int i, int n, int o)
{
    return (int)(((long long)i * n) / o);
}

__device__ inline int bin_end(int i, int n, int o)
{
    return (int)(((long long)(i + 1) * n + o - 1) / o);
}

extern "C" __global__ void adaptive_max_pool2d_forward(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ y, long long* __restrict__ argmax,
    long long total, int H, int W, int OH, int OW)
{
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int ow = (int)(idx % OW);
        const int oh = (int)((idx / OW) % OH);
        const scalar_t* plane = x + (idx / ((long long)OH * OW)) * H * W;
        const int h0 = bin_start(oh, H, OH);
        const int w0 = bin_start(ow, W, OW);
        long long best_index = (long long)h0 * W + w0;
        acc_t best = static_cast<acc_t>(plane[best_index]);
        for (int h = h0; h < bin_end(oh, H, OH); ++h) {
            for (int w = w0; w < bin_end(ow, W, OW); ++w) {
                const long long index = (long long)h * W + w;
                const acc_t v = static_cast<acc_t>(plane[index]);
                // ties keep the first index; a NaN always wins, so NaN propagates (as PyTorch)
                if (v > best || v != v) {
                    best = v;
                    best_index = index;
                }
            }
        }
        y[idx] = static_cast<scalar_t>(best);
        argmax[idx] = best_index;
    }
}

extern "C" __global__ void adaptive_max_pool2d_backward(
    const scalar_t* __restrict__ grad_y, const long long* __restrict__ argmax,
    scalar_t* __restrict__ grad_x, long long total, int H, int W, int OH, int OW)
{
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int w = (int)(idx % W);
        const int h = (int)((idx / W) % H);
        const long long plane = (idx / ((long long)H * W)) * OH * OW;
        const long long index = (long long)h * W + w;
        acc_t sum = static_cast<acc_t>(0.0f);
        for (int oh = bin_start(h, OH, H); oh < bin_end(h, OH, H); ++oh) {
            for (int ow = bin_start(w, OW, W); ow < bin_end(w, OW, W); ++ow) {
                const long long o = plane + (long long)oh * OW + ow;
                if (argmax[o] == index) sum += static_cast<acc_t>(grad_y[o]);
            }
        }
        grad_x[idx] = static_cast<scalar_t>(sum);
    }
}
