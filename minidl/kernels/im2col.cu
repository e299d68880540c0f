// dtypes: float16 float32 float64
// im2col: one thread per column entry. The columns of an input x (N, C, H, W) are laid out as
// cols[(c, i, j), (n, oh, ow)], shape (C * kh * kw, N * OH * OW); entry ((c, i, j), (n, oh, ow)) is
// the input pixel (oh * sh - pt + i * dh, ow * sw - pl + j * dw) of image n, channel c, or zero
// where that pixel falls in the padding.

extern "C" __global__ void im2col(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ cols, long long total,
    int n_batch, int channels, int height, int width, int kh, int kw, int sh, int sw,
    int pt, int pl, int dh, int dw, int out_h, int out_w)
{
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        long long rest = idx;
        const int ow = (int)(rest % out_w); rest /= out_w;
        const int oh = (int)(rest % out_h); rest /= out_h;
        const int n = (int)(rest % n_batch); rest /= n_batch;
        const int j = (int)(rest % kw); rest /= kw;
        const int i = (int)(rest % kh); rest /= kh;
        const int c = (int)rest;
        const int h = oh * sh - pt + i * dh;
        const int w = ow * sw - pl + j * dw;
        scalar_t value = (scalar_t)0.0f;
        if (h >= 0 && h < height && w >= 0 && w < width) {
            value = x[(((long long)n * channels + c) * height + h) * width + w];
        }
        cols[idx] = value;
    }
}
