// Forward convolution as an implicit GEMM: out = W col + b without storing col.
//
// The GEMM of conv.py, out[o, p] = b[o] + sum_k W[o, k] col[k, p] with k = (c, i, j) over C kh kw and
// p = (n, y, x) over N Ho Wo, where col[k, p] = x_pad[n, c, y sh + i, x sw + j]. im2col writes col
// (kh kw times the input) and the GEMM reads it back; here each block loads its (16 x 128) piece of col
// straight from x into shared memory as it needs it, and writes NCHW with the bias added: no column
// matrix, no layout copy (the approach of cuDNN's implicit GEMM; Chetlur et al., 2014).
//
// W comes transposed, W^T (C kh kw, Cout), so that a warp's loads of it are consecutive.
// Tiles: 64 output channels x 128 pixels per block, K in steps of 16, 128 threads; thread (ty, tx) =
// (tid / 16, tid % 16) holds channels 4 ty + (0..3) and 32 + 4 ty + (0..3), pixels 4 tx + (0..3) and
// 64 + 4 tx + (0..3): 64 sums, each a chain of FMAs in a fixed order (deterministic). The next K step
// is read from global memory into registers while the current one is multiplied (double-buffered
// shared memory). Each thread loads the col entries of one pixel, so that pixel's (n, y, x) is worked
// out once. The geometry comes as compile-time constants (conv.py's _Geometry.cuda_constants), so
// the divisions are multiplies and shifts. Index arithmetic is 32-bit: conv.py checks the sizes.

constexpr int TILE_M = 64, TILE_N = 128, TILE_K = 16, CONV_THREADS = 128;

template <typename T> struct Four { T v[4]; };
// 4 consecutive elements of shared memory at a 16-byte boundary, as one or two vector loads
__device__ __forceinline__ Four<float> load_four(const float* p) {
    const float4 a = *reinterpret_cast<const float4*>(p);
    return {{a.x, a.y, a.z, a.w}};
}
__device__ __forceinline__ Four<double> load_four(const double* p) {
    const double2 a = reinterpret_cast<const double2*>(p)[0], b = reinterpret_cast<const double2*>(p)[1];
    return {{a.x, a.y, b.x, b.y}};
}
constexpr int KSIZE = CHANNELS * K_H * K_W;
constexpr int PIXELS = OUT_H * OUT_W;

template <typename T>
__global__ void __launch_bounds__(CONV_THREADS) conv2d_forward(
        const T* __restrict__ x, const T* __restrict__ w_t, const T* __restrict__ bias, T* __restrict__ out,
        int batch, int has_bias) {
    // dynamic shared memory, (2 TILE_K TILE_M + 2 TILE_K TILE_N) elements: two buffers of each piece
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T (*a_s)[TILE_K][TILE_M] = reinterpret_cast<T (*)[TILE_K][TILE_M]>(shared_bytes);   // W^T: a_s[.][k][o]
    T (*b_s)[TILE_K][TILE_N] = reinterpret_cast<T (*)[TILE_K][TILE_N]>(a_s + 2);        // col: b_s[.][k][p]
    const int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
    const int o0 = blockIdx.y * TILE_M;
    const int p0 = blockIdx.x * TILE_N;
    const int total = batch * PIXELS;

    // this thread's pixel for the col loads
    const int p_load = p0 + tid;
    const bool pixel_ok = p_load < total;
    const int n_load = p_load / PIXELS;
    const int pix = p_load - n_load * PIXELS;
    const int y0 = (pix / OUT_W) * STRIDE_H - PAD_H;
    const int x0 = (pix - (pix / OUT_W) * OUT_W) * STRIDE_W - PAD_W;
    const T* x_n = x + n_load * (CHANNELS * HEIGHT * WIDTH);

    T a_next[8], b_next[TILE_K];
    auto fetch = [&](int k0) {
#pragma unroll
        for (int r = 0; r < 8; ++r) {              // W^T[k0 + kk, o0 + m]: a warp reads 32 consecutive o
            const int e = tid + CONV_THREADS * r, m = e & 63, kk = e >> 6;
            const int o = o0 + m, k = k0 + kk;
            a_next[r] = (o < OUT_CHANNELS && k < KSIZE) ? w_t[k * OUT_CHANNELS + o] : T(0);
        }
#pragma unroll
        for (int kk = 0; kk < TILE_K; ++kk) {      // col[k0 + kk, p_load]
            const int k = k0 + kk;
            const int c = k / (K_H * K_W), i = (k / K_W) % K_H, j = k % K_W;
            const int yy = y0 + i, xx = x0 + j;
            const bool ok = pixel_ok && k < KSIZE && yy >= 0 && yy < HEIGHT && xx >= 0 && xx < WIDTH;
            b_next[kk] = ok ? x_n[(c * HEIGHT + yy) * WIDTH + xx] : T(0);
        }
    };
    auto stash = [&](int buffer) {
#pragma unroll
        for (int r = 0; r < 8; ++r) {
            const int e = tid + CONV_THREADS * r;
            a_s[buffer][e >> 6][e & 63] = a_next[r];
        }
#pragma unroll
        for (int kk = 0; kk < TILE_K; ++kk) b_s[buffer][kk][tid] = b_next[kk];
    };

    T acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = T(0);

    fetch(0);
    stash(0);
    __syncthreads();
    int buffer = 0;
    for (int k0 = 0; k0 < KSIZE; k0 += TILE_K) {
        const bool more = k0 + TILE_K < KSIZE;
        if (more) fetch(k0 + TILE_K);           // in flight while this step multiplies
#pragma unroll
        for (int kk = 0; kk < TILE_K; ++kk) {
            const Four<T> a_lo = load_four(&a_s[buffer][kk][4 * ty]), a_hi = load_four(&a_s[buffer][kk][32 + 4 * ty]);
            const Four<T> b_lo = load_four(&b_s[buffer][kk][4 * tx]), b_hi = load_four(&b_s[buffer][kk][64 + 4 * tx]);
            T a[8], b[8];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                a[u] = a_lo.v[u];
                a[4 + u] = a_hi.v[u];
                b[u] = b_lo.v[u];
                b[4 + u] = b_hi.v[u];
            }
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
        }
        if (more) {
            stash(buffer ^ 1);   // the other buffer: its last readers passed the barrier below
            __syncthreads();
            buffer ^= 1;
        }
    }

#pragma unroll
    for (int j = 0; j < 8; ++j) {
        const int p = p0 + (j < 4 ? 4 * tx + j : 64 + 4 * tx + (j - 4));
        if (p >= total) continue;
        const int n = p / PIXELS, q = p - n * PIXELS;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const int o = o0 + (i < 4 ? 4 * ty + i : 32 + 4 * ty + (i - 4));
            if (o < OUT_CHANNELS)
                out[(n * OUT_CHANNELS + o) * PIXELS + q] = acc[i][j] + (has_bias ? bias[o] : T(0));
        }
    }
}
