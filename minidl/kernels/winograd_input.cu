// dtypes: float16 float32 float64
// Winograd input transform, gather-style: one thread per transformed value (the matrix and V in acc_t,
// float32 for float16 data, so that the products that follow see V unrounded)
//
//     V[e, c, (n, th, tw)] = sum_{i, j < t} KB[e, i t + j] * x_pad[n, c, th m + i, tw m + j]
//
// where KB = B^T ⊗ B^T (t^2 x t^2, t = m + 2) is the Kronecker form of V = B^T d B for the t x t tile d
// whose top-left corner is (th m - pt, tw m - pl) in x (zero outside x). Each thread reads its tile and
// its row of KB and writes one value: no two threads write the same place, no atomics, and the sum runs
// in the same order every time, so results repeat bit for bit. The CPU twin is the NumPy branch of
// `minidl/functional/winograd.py::_transformed_input` (``_input_tiles`` followed by one GEMM with KB).

extern "C" __global__ void winograd_input(
    const scalar_t* __restrict__ x, const acc_t* __restrict__ kb, acc_t* __restrict__ v,
    long long total, int n_batch, int channels, int height, int width, int pt, int pl,
    int tiles_h, int tiles_w, int m)
{
    const int t = m + 2;
    const long long tiles = (long long)n_batch * tiles_h * tiles_w;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const long long row = idx / tiles;  // e * channels + c
        const long long tile = idx - row * tiles;
        const int c = (int)(row % channels), e = (int)(row / channels);
        const int tw = (int)(tile % tiles_w);
        const int th = (int)((tile / tiles_w) % tiles_h);
        const int n = (int)(tile / ((long long)tiles_w * tiles_h));
        const scalar_t* plane = x + ((long long)n * channels + c) * height * width;
        const acc_t* weights = kb + (long long)e * t * t;
        acc_t sum = (acc_t)0.0f;
        for (int i = 0; i < t; ++i) {
            const int h = th * m + i - pt;
            if (h < 0 || h >= height) continue;
            for (int j = 0; j < t; ++j) {
                const int w = tw * m + j - pl;
                if (w < 0 || w >= width) continue;
                sum += weights[i * t + j] * (acc_t)plane[(long long)h * width + w];
            }
        }
        v[idx] = sum;
    }
}
