// The host stand-in for CUDA's half-precision header: `__half` is the compiler's IEEE binary16 type.
// Kernels convert each half to their float accumulator (`acc_t`) before arithmetic and back when they
// store, so conversions are all they need; `_Float16` rounds them as the GPU does (round to nearest even).
#pragma once
typedef _Float16 __half;
static inline float __half2float(__half h) { return (float)h; }
static inline __half __float2half(float f) { return (__half)f; }
