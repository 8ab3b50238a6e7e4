// Just enough of CUDA to run minifb's kernels on the CPU, for tests on machines without a GPU: one
// std::thread per CUDA thread, the blocks of a grid one after another, __syncthreads as a barrier of
// the block and warp shuffles through a barrier of the warp. Shared memory starts as NaN-like garbage
// (0xff bytes) in every block, as uninitialised shared memory would. Correctness only: no timing.
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>
#include <memory>
struct dim3 { unsigned x = 1, y = 1, z = 1; };
thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __align__(n)
#define __shared__
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline double2 make_double2(double a, double b) { return {a, b}; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline double __longlong_as_double(long long i) { double f; std::memcpy(&f, &i, 8); return f; }
alignas(16) unsigned char shared_bytes[400000];
std::unique_ptr<std::barrier<>> block_barrier;
std::unique_ptr<std::barrier<>> warp_barrier[64];
double xchg[64][32];
inline void __syncthreads() { block_barrier->arrive_and_wait(); }
template <class T> T __shfl_xor_sync(unsigned, T v, int off) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    xchg[warp][lane] = (double)v;
    warp_barrier[warp]->arrive_and_wait();
    T r = (T)xchg[warp][lane ^ off];
    warp_barrier[warp]->arrive_and_wait();
    return r;
}
template <class F, class... A> void launch(dim3 grid, unsigned threads, F f, A... args) {
    gridDim = grid; blockDim = {threads, 1, 1};
    for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
            std::memset(shared_bytes, 0xff, sizeof shared_bytes);  // garbage, as on a GPU (NaN patterns)
            block_barrier = std::make_unique<std::barrier<>>(threads);
            for (unsigned w = 0; w < (threads + 31) / 32; ++w) warp_barrier[w] = std::make_unique<std::barrier<>>(32);
            std::vector<std::thread> pool;
            for (unsigned t = 0; t < threads; ++t)
                pool.emplace_back([=] { threadIdx = {t, 0, 0}; blockIdx = {bx, by, 0}; f(args...); });
            for (auto& th : pool) th.join();
        }
}
