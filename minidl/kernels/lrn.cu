// dtypes: float16 float32 float64
// Local response normalisation across channels (AlexNet, section 3.3), forward and backward.
//
// The input is viewed as (outer, channels, inner): channel c of element idx sits at
// idx = (n * channels + c) * inner + p. Channel c's window is c - before .. c + after, clipped to the
// valid channels (clipping is the same as padding with zeros):
//     scale_c = k + coef * sum_{j in window(c)} x_j^2,      y_c = x_c * scale_c^(-beta)
// PyTorch's form has before = size/2, after = (size-1)/2, coef = alpha/size; the paper's form has
// before = after = n/2, coef = alpha.
//
// CPU twins: the NumPy branches of `minidl/functional/lrn.py::LocalResponseNorm.forward` and
// `minidl/functional/lrn.py::LocalResponseNorm.backward`.

extern "C" __global__ void lrn_forward(const scalar_t* x, scalar_t* y, scalar_t* scale,
                                       long long total, int channels, long long inner,
                                       int before, int after, acc_t coef, acc_t k, acc_t beta) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        int c = (int)((idx / inner) % channels);
        long long channel0 = idx - c * inner;
        int first = max(c - before, 0);
        int last = min(c + after, channels - 1);
        acc_t sum = 0;
        for (int j = first; j <= last; ++j) {
            acc_t a = (acc_t)x[channel0 + j * inner];
            sum += a * a;
        }
        acc_t s = k + coef * sum;
        scale[idx] = (scalar_t)s;
        y[idx] = (scalar_t)((acc_t)x[idx] * pow(s, -beta));
    }
}

// dy_i/dx_j = [i == j] scale_i^(-beta) - 2 coef beta x_i x_j scale_i^(-beta-1)  for j in window(i), so
//     gx_j = gy_j scale_j^(-beta) - 2 coef beta x_j sum_{i : j in window(i)} gy_i y_i / scale_i.
// j lies in window(i) exactly when i runs over j - after .. j + before (the window mirrored): each
// thread gathers those terms for its own input element.
extern "C" __global__ void lrn_backward(const scalar_t* x, const scalar_t* y, const scalar_t* scale,
                                        const scalar_t* gy, scalar_t* gx,
                                        long long total, int channels, long long inner,
                                        int before, int after, acc_t coef, acc_t beta) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        int c = (int)((idx / inner) % channels);
        long long channel0 = idx - c * inner;
        int first = max(c - after, 0);
        int last = min(c + before, channels - 1);
        acc_t sum = 0;
        for (int i = first; i <= last; ++i) {
            long long at = channel0 + i * inner;
            sum += (acc_t)gy[at] * (acc_t)y[at] / (acc_t)scale[at];
        }
        acc_t s = (acc_t)scale[idx];
        gx[idx] = (scalar_t)((acc_t)gy[idx] * pow(s, -beta) - 2 * coef * beta * (acc_t)x[idx] * sum);
    }
}
