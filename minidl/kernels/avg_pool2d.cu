// dtypes: float16 float32 float64
// Average pooling of NCHW planes over a (kh x kw) window with stride and zero padding.
// The divisor follows PyTorch: the window clipped to the padded input (count_include_pad), or to
// the input itself, or divisor_override when it is not 0. The backward runs one thread per input
// pixel and gathers grad_y / divisor over the windows that cover it, so no atomics are needed.
//
// CPU twins: the NumPy branches of `minidl/functional/pooling.py::AvgPool2d.forward` and
// `minidl/functional/pooling.py::AvgPool2d.backward`.

// Window (oh, ow)'s divisor.
__device__ inline acc_t window_divisor(int oh, int ow, int H, int W, int kh, int kw, int sh, int sw,
                                       int ph, int pw, int count_include_pad, int divisor_override)
{
    if (divisor_override != 0) return static_cast<acc_t>(divisor_override);
    const int h0 = oh * sh - ph;
    const int w0 = ow * sw - pw;
    const int h1 = min(h0 + kh, H + ph);
    const int w1 = min(w0 + kw, W + pw);
    if (count_include_pad) return static_cast<acc_t>((h1 - h0) * (w1 - w0));
    return static_cast<acc_t>((min(h1, H) - max(h0, 0)) * (min(w1, W) - max(w0, 0)));
}

extern "C" __global__ void avg_pool2d_forward(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ y, long long total, int H, int W,
    int OH, int OW, int kh, int kw, int sh, int sw, int ph, int pw,
    int count_include_pad, int divisor_override)
{
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int ow = (int)(idx % OW);
        const int oh = (int)((idx / OW) % OH);
        const scalar_t* plane = x + (idx / ((long long)OH * OW)) * H * W;
        const int h0 = oh * sh - ph;
        const int w0 = ow * sw - pw;
        acc_t sum = static_cast<acc_t>(0.0f);
        for (int h = max(h0, 0); h < min(h0 + kh, H); ++h) {
            for (int w = max(w0, 0); w < min(w0 + kw, W); ++w) {
                sum += static_cast<acc_t>(plane[(long long)h * W + w]);
            }
        }
        y[idx] = static_cast<scalar_t>(
            sum / window_divisor(oh, ow, H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override));
    }
}

extern "C" __global__ void avg_pool2d_backward(
    const scalar_t* __restrict__ grad_y, scalar_t* __restrict__ grad_x, long long total, int H,
    int W, int OH, int OW, int kh, int kw, int sh, int sw, int ph, int pw,
    int count_include_pad, int divisor_override)
{
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int w = (int)(idx % W);
        const int h = (int)((idx / W) % H);
        const scalar_t* plane = grad_y + (idx / ((long long)H * W)) * OH * OW;
        // windows (oh * sh - ph, of kh rows) that contain row h, likewise for columns
        const int oh_begin = h + ph < kh ? 0 : (h + ph - kh) / sh + 1;
        const int ow_begin = w + pw < kw ? 0 : (w + pw - kw) / sw + 1;
        const int oh_end = min((h + ph) / sh + 1, OH);
        const int ow_end = min((w + pw) / sw + 1, OW);
        acc_t sum = static_cast<acc_t>(0.0f);
        for (int oh = oh_begin; oh < oh_end; ++oh) {
            for (int ow = ow_begin; ow < ow_end; ++ow) {
                sum += static_cast<acc_t>(plane[(long long)oh * OW + ow]) /
                       window_divisor(oh, ow, H, W, kh, kw, sh, sw, ph, pw, count_include_pad,
                                      divisor_override);
            }
        }
        grad_x[idx] = static_cast<scalar_t>(sum);
    }
}
