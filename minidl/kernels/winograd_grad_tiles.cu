// dtypes: float16 float32 float64
// The adjoint of the Winograd output transform, gather-style (the matrix and dM in acc_t, float32 for
// float16 data): one thread per value of
//
//     dM[e, (n, th, tw), co] = sum_{r, s < m} KA[r m + s, e] * dy[n, co, th m + r, tw m + s]
//
// (KA = A^T ⊗ A^T, m^2 x t^2; dy is zero past the output's edge): dM = A dY A^T for every tile of the
// output gradient, laid out with the channel last so that the weight gradient's batched GEMM
// dU[e] = V[e] dM[e] reads both operands contiguously. One writer per value, a fixed summation order:
// no atomics, the same bits every run. The CPU twin is the NumPy branch of
// `minidl/functional/winograd.py::_output_gradient_tiles` (``_output_tiles`` and one GEMM with KA^T).

extern "C" __global__ void winograd_grad_tiles(
    const scalar_t* __restrict__ dy, const acc_t* __restrict__ ka, acc_t* __restrict__ dm,
    long long total, int n_batch, int channels, int out_h, int out_w, int tiles_h, int tiles_w, int m)
{
    const int t2 = (m + 2) * (m + 2);
    const long long per_e = (long long)n_batch * tiles_h * tiles_w * channels;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        const int e = (int)(idx / per_e);
        const long long rest = idx - (long long)e * per_e;
        const int co = (int)(rest % channels);
        const long long tile = rest / channels;
        const int tw = (int)(tile % tiles_w);
        const int th = (int)((tile / tiles_w) % tiles_h);
        const int n = (int)(tile / ((long long)tiles_w * tiles_h));
        const scalar_t* plane = dy + ((long long)n * channels + co) * out_h * out_w;
        acc_t sum = (acc_t)0.0f;
        for (int r = 0; r < m; ++r) {
            const int y = th * m + r;
            if (y >= out_h) break;
            for (int s = 0; s < m; ++s) {
                const int x = tw * m + s;
                if (x >= out_w) break;
                sum += ka[(long long)(r * m + s) * t2 + e] * (acc_t)plane[(long long)y * out_w + x];
            }
        }
        dm[idx] = sum;
    }
}
