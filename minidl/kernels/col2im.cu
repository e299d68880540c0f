// dtypes: float16 float32 float64
// col2im, gather-style: one thread per pixel (n, c, h, w) of the image. It sums, in a fixed order, the
// column entries ((c, i, j), (n, oh, ow)) that im2col read from this pixel, i.e. those with
// oh * sh + i * dh == h + pt and ow * sw + j * dw == w + pl. No two threads write the same place, so
// there are no atomics and the result is identical run to run.
//
// CPU twin: `minidl/functional/im2col.py::col2im` (adds one strided slice per kernel offset).

extern "C" __global__ void col2im(
    const scalar_t* __restrict__ cols, scalar_t* __restrict__ image, long long total,
    int n_batch, int channels, int height, int width, int kh, int kw, int sh, int sw,
    int pt, int pl, int dh, int dw, int out_h, int out_w)
{
    const long long plane = (long long)out_h * out_w;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        // one 64-bit division; the rest fits in 32 bits, which the GPU divides much faster
        const int image_index = (int)(idx / ((long long)height * width));
        const int pix = (int)(idx - (long long)image_index * height * width);
        const int h = pix / width, w = pix % width;
        const int c = image_index % channels;
        const int n = image_index / channels;
        acc_t sum = (acc_t)0.0f;
        for (int i = 0; i < kh; ++i) {
            const int row = h + pt - i * dh;
            if (row < 0 || row % sh != 0 || row / sh >= out_h) continue;
            const int oh = row / sh;
            for (int j = 0; j < kw; ++j) {
                const int col = w + pl - j * dw;
                if (col < 0 || col % sw != 0 || col / sw >= out_w) continue;
                const int ow = col / sw;
                const long long k = ((long long)c * kh + i) * kw + j;
                sum += (acc_t)cols[(k * n_batch + n) * plane + (long long)oh * out_w + ow];
            }
        }
        image[idx] = (scalar_t)sum;
    }
}
