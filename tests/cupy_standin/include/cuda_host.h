// What a minidl CUDA kernel needs in order to compile as plain C++ for the host (g++ or clang++).
//
// The stand-in for CuPy (tests/cupy_standin) force-includes this header before a kernel file and then
// calls each `__global__` function once per (block, thread) of a launch, in sequence, after setting
// blockIdx/threadIdx. That is a faithful execution of minidl's kernels because each is a grid-stride
// loop whose threads share nothing: no shared memory, no synchronisation, no atomics. A kernel that
// needs those must bring a block-synchronous runner with it; until then they are compile errors here.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ shared_memory_needs_a_block_synchronous_host_runner
#define __syncthreads() syncthreads_needs_a_block_synchronous_host_runner()

// The built-in index variables have CUDA's types (unsigned int fields), so 32-bit overflow in
// `blockIdx.x * blockDim.x` happens here as it does on the device.
struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x, y, z; };
static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;

static inline float __int_as_float(int i) { float f; memcpy(&f, &i, sizeof f); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, sizeof i); return i; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, sizeof d); return d; }
static inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, sizeof i); return i; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }

// CUDA's integer and floating min/max: one overload set for both operands' common type.
template <class A, class B>
static inline typename std::common_type<A, B>::type min(A a, B b) { return b < a ? b : a; }
template <class A, class B>
static inline typename std::common_type<A, B>::type max(A a, B b) { return a < b ? b : a; }
