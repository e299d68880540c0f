// dtypes: float16 float32 float64
// Winograd output transform, gather-style: one thread per output pixel (the matrix and M in acc_t,
// float32 for float16 data)
//
//     out[n, co, y, x] = sum_{e < t^2} KA[(y mod m) m + (x mod m), e] * M[e, co, (n, y div m, x div m)]
//
// where KA = A^T ⊗ A^T (m^2 x t^2, t = m + 2) is the Kronecker form of Y = A^T M A for one tile and M
// holds the channel-reduced products U ⊙ V of every tile. Each thread writes its own pixel, summing in
// a fixed order: no atomics, the same bits every run. The CPU twin is the NumPy branch of
// `minidl/functional/winograd.py::_transformed_output` (one GEMM with KA and a strided copy per tile
// position).

extern "C" __global__ void winograd_output(
    const acc_t* __restrict__ prod, const acc_t* __restrict__ ka, scalar_t* __restrict__ out,
    long long total, int n_batch, int channels, int out_h, int out_w, int tiles_h, int tiles_w, int m)
{
    const int t2 = (m + 2) * (m + 2);
    const long long tiles = (long long)n_batch * tiles_h * tiles_w;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int x = (int)(idx % out_w);
        const int y = (int)((idx / out_w) % out_h);
        const long long image = idx / ((long long)out_w * out_h);  // n * channels + co
        const int co = (int)(image % channels), n = (int)(image / channels);
        const long long tile = ((long long)n * tiles_h + y / m) * tiles_w + x / m;
        const acc_t* weights = ka + (long long)((y % m) * m + (x % m)) * t2;
        acc_t sum = (acc_t)0.0f;
        for (int e = 0; e < t2; ++e) {
            sum += weights[e] * prod[((long long)e * channels + co) * tiles + tile];
        }
        out[idx] = (scalar_t)sum;
    }
}
