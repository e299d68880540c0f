// dtypes: float16 float32 float64
// Inverted dropout's mask: element i is kept with probability 1 - p, and a kept element is worth
// scale = 1 / (1 - p), so that the layer's expected output equals its input. The scale arrives in the
// accumulator type (float for a float16 mask) and is rounded once, when stored.
//
// The uniform number of element i is a counter-based hash of (seed, i): SplitMix64's output number i
// for the given seed. No generator state is shared between threads or carried between calls, so the
// mask depends only on (seed, i): the same seed gives the same mask on every run and launch shape.
//
// CPU twin: `minidl/functional/dropout.py::_mask` (the same distribution from NumPy's generator, not
// the same draws).

__device__ unsigned long long splitmix64(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

extern "C" __global__ void dropout_mask(scalar_t* mask, long long total, unsigned long long seed,
                                        double p, acc_t scale) {
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)blockDim.x * gridDim.x) {
        unsigned long long h = splitmix64(seed + (unsigned long long)(idx + 1) * 0x9E3779B97F4A7C15ULL);
        // the top 53 bits as a double in [0, 1), every value equally likely
        double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
        mask[idx] = u >= p ? (scalar_t)scale : (scalar_t)0.0f;
    }
}
