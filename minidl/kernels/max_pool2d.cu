// dtypes: float16 float32 float64
// Max pooling of NCHW planes over a (kh x kw) window with stride, padding and dilation.
// The forward writes, per output, the maximum and its flat index h * W + w in the input plane
// (PyTorch's `indices`). The backward runs one thread per input pixel and gathers the gradients of
// the outputs whose argmax it is: no two threads write the same element and the summation order is
// fixed, so no atomics are needed and results repeat bit for bit.
//
// CPU twins: `minidl/functional/pooling.py::MaxPool2d.forward_cpu` and
// `minidl/functional/pooling.py::MaxPool2d.backward_cpu`.

__device__ inline acc_t negative_infinity()
{
    return -static_cast<acc_t>(__int_as_float(0x7f800000));
}

// The first window (of `extent` padded positions, every `stride`) that covers padded position `pos`.
__device__ inline int first_window(int pos, int extent, int stride)
{
    return pos < extent ? 0 : (pos - extent) / stride + 1;
}

extern "C" __global__ void max_pool2d_forward(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ y, long long* __restrict__ argmax,
    long long total, int H, int W, int OH, int OW, int kh, int kw, int sh, int sw,
    int ph, int pw, int dh, int dw)
{
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int ow = (int)(idx % OW);
        const int oh = (int)((idx / OW) % OH);
        const scalar_t* plane = x + (idx / ((long long)OH * OW)) * H * W;
        const int h0 = oh * sh - ph;
        const int w0 = ow * sw - pw;
        acc_t best = negative_infinity();
        long long best_index = -1;
        for (int i = 0; i < kh; ++i) {
            const int h = h0 + i * dh;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < kw; ++j) {
                const int w = w0 + j * dw;
                if (w < 0 || w >= W) continue;
                const long long index = (long long)h * W + w;
                const acc_t v = static_cast<acc_t>(plane[index]);
                // As PyTorch: the first element in bounds is taken even at -inf, later ones when
                // strictly larger (ties keep the first index) or NaN (NaN propagates).
                if (best_index < 0 || v > best || v != v) {
                    best = v;
                    best_index = index;
                }
            }
        }
        y[idx] = static_cast<scalar_t>(best);
        argmax[idx] = best_index;
    }
}

extern "C" __global__ void max_pool2d_backward(
    const scalar_t* __restrict__ grad_y, const long long* __restrict__ argmax,
    scalar_t* __restrict__ grad_x, long long total, int H, int W, int OH, int OW, int kh, int kw,
    int sh, int sw, int ph, int pw, int dh, int dw)
{
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int w = (int)(idx % W);
        const int h = (int)((idx / W) % H);
        const long long plane = (idx / ((long long)H * W)) * OH * OW;
        const long long index = (long long)h * W + w;
        const int oh_end = min((h + ph) / sh + 1, OH);
        const int ow_end = min((w + pw) / sw + 1, OW);
        acc_t sum = static_cast<acc_t>(0.0f);
        for (int oh = first_window(h + ph, (kh - 1) * dh + 1, sh); oh < oh_end; ++oh) {
            for (int ow = first_window(w + pw, (kw - 1) * dw + 1, sw); ow < ow_end; ++ow) {
                const long long o = plane + (long long)oh * OW + ow;
                if (argmax[o] == index) sum += static_cast<acc_t>(grad_y[o]);
            }
        }
        grad_x[idx] = static_cast<scalar_t>(sum);
    }
}
