// dtypes: float16 float32 float64
// im2col: one thread per column entry. The columns of an input x (N, C, H, W) are laid out as
// cols[(c, i, j), (n, oh, ow)], shape (C * kh * kw, N * OH * OW); entry ((c, i, j), (n, oh, ow)) is
// the input pixel (oh * sh - pt + i * dh, ow * sw - pl + j * dw) of image n, channel c, or zero
// where that pixel falls in the padding.
//
// CPU twin: `minidl/functional/im2col.py::im2col` (one strided slice per kernel offset).

extern "C" __global__ void im2col(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ cols, long long total,
    int n_batch, int channels, int height, int width, int kh, int kw, int sh, int sw,
    int pt, int pl, int dh, int dw, int out_h, int out_w)
{
    const long long plane = (long long)out_h * out_w;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        // one 64-bit division; the rest fits in 32 bits, which the GPU divides much faster
        int row = (int)(idx / plane);
        const int pix = (int)(idx - row * plane);
        const int oh = pix / out_w, ow = pix % out_w;
        const int n = row % n_batch; row /= n_batch;
        const int j = row % kw; row /= kw;
        const int i = row % kh;
        const int c = row / kh;
        const int h = oh * sh - pt + i * dh;
        const int w = ow * sw - pl + j * dw;
        scalar_t value = (scalar_t)0.0f;
        if (h >= 0 && h < height && w >= 0 && w < width) {
            value = x[(((long long)n * channels + c) * height + h) * width + w];
        }
        cols[idx] = value;
    }
}
