// Memory-efficient multi-head attention: tiled, with an online softmax (FlashAttention, Dao et al.
// 2022; the backward split as in FlashAttention-2, Dao 2023), and dropout drawn inside the kernels.
//
// Per head, with s = log2(e) / sqrt(d) so that scores live in base 2 (exp2 is one instruction):
//   S = s Q K^T,  P = 2^(S - lse) (row softmax, lse = m + log2 l),  O = (P o Z) V
// where Z is the dropout mask (0, or 1 / (1 - p) with probability 1 - p). The forward pass keeps only
// O and lse (one number per row): memory O(N d), never an N x N array. Backward, with G = dL/dO and
// delta = rowsum(G o O) (= rowsum(P o (G V^T) o Z), computed by attention_delta):
//   dV = (P o Z)^T G,  dS = P o ((G V^T) o Z - delta),  dQ = dS K / sqrt(d),  dK = dS^T Q / sqrt(d)
// attention_backward_kv owns a tile of keys (dK, dV) and loops over the queries; attention_backward_q
// owns a tile of queries (dQ) and loops over the keys. Two kernels recompute S and G V^T once more
// than one would, but each output element is written by one thread in a fixed order: no atomics,
// the same bits on every run.
//
// Layout: qkv (B, N, 3, H, d) contiguous (the packed projections), out and G (B, N, H, d), lse and
// delta (B, N, H). Tiles of 64 rows x 64 columns, 128 threads: thread (tr, tc) = (tid / 8, tid % 8)
// holds rows tr + 16 i (i < 4) and columns tc + 8 j (j < 8) of a score tile, and of a (64, d) output
// tile the rows tr + 16 i and the columns 32 c + 4 tc + (0..3) (c < d / 32). Shared rows are padded by
// 4 elements, so the 16-byte loads of the inner loops fall on distinct banks.
//
// Dropout: a counter-based hash of (seed, offset, row, column) decides each element; the backward
// kernels recompute the same mask. seed and offset are read from device memory (rng[0], rng[1]) so that
// a replayed CUDA graph, whose attention_rng_advance moves the offset on, draws a new mask each time.

namespace {

constexpr int BR = 64;       // query rows of a tile
constexpr int BC = 64;       // key columns of a tile
constexpr int THREADS = 128;
constexpr int PAD = 4;       // elements added to every shared row
constexpr int RPT = 4;       // rows of a score tile per thread
constexpr int CPT = 8;       // columns of a score tile per thread

template <typename T> struct V4 { T x, y, z, w; };

__device__ __forceinline__ V4<float> load4(const float* p) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    return {v.x, v.y, v.z, v.w};
}
__device__ __forceinline__ V4<double> load4(const double* p) {
    const double2 a = reinterpret_cast<const double2*>(p)[0];
    const double2 b = reinterpret_cast<const double2*>(p)[1];
    return {a.x, a.y, b.x, b.y};
}
__device__ __forceinline__ void store4(float* p, V4<float> v) {
    *reinterpret_cast<float4*>(p) = make_float4(v.x, v.y, v.z, v.w);
}
__device__ __forceinline__ void store4(double* p, V4<double> v) {
    reinterpret_cast<double2*>(p)[0] = make_double2(v.x, v.y);
    reinterpret_cast<double2*>(p)[1] = make_double2(v.z, v.w);
}
template <typename T> __device__ __forceinline__ T dot4(V4<T> a, V4<T> b, T acc) {
    return acc + a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
}

__device__ __forceinline__ float exp2_(float x) { return exp2f(x); }
__device__ __forceinline__ double exp2_(double x) { return exp2(x); }
__device__ __forceinline__ float log2_(float x) { return log2f(x); }
__device__ __forceinline__ double log2_(double x) { return log2(x); }
template <typename T> __device__ __forceinline__ T max_(T a, T b) { return a > b ? a : b; }
template <typename T> __device__ __forceinline__ T infinity();
template <> __device__ __forceinline__ float infinity<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double infinity<double>() {
    return __longlong_as_double(0x7ff0000000000000LL);
}

// The 8 threads of a score row are 8 consecutive lanes of one warp.
template <typename T> __device__ __forceinline__ T row_max(T v) {
    v = max_(v, __shfl_xor_sync(0xffffffffu, v, 1));
    v = max_(v, __shfl_xor_sync(0xffffffffu, v, 2));
    return max_(v, __shfl_xor_sync(0xffffffffu, v, 4));
}
template <typename T> __device__ __forceinline__ T row_sum(T v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    v += __shfl_xor_sync(0xffffffffu, v, 2);
    return v + __shfl_xor_sync(0xffffffffu, v, 4);
}

// ---- dropout mask: a 32-bit integer hash (Wellons' lowbias32), one per element ----------------
__device__ __forceinline__ unsigned mix32(unsigned x) {
    x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
    return x;
}
__device__ __forceinline__ unsigned rng_key(const unsigned long long* rng) {
    const unsigned long long seed = rng[0], offset = rng[1];
    return mix32(mix32(mix32(mix32((unsigned)seed) ^ (unsigned)(seed >> 32)) ^ (unsigned)offset)
                 ^ (unsigned)(offset >> 32));
}
// row = (b H + h) N + i: one key per score row, then one hash per column
__device__ __forceinline__ unsigned row_key(unsigned key, unsigned row) { return mix32(key ^ mix32(row)); }
__device__ __forceinline__ bool kept(unsigned rowkey, unsigned column, unsigned threshold) {
    return mix32(rowkey + column * 0x9e3779b9u) >= threshold;
}

// Rows [row0, row0 + 64) of a matrix whose row r starts at src + r * stride, D columns, into dst
// (64 rows of D + PAD); rows at or past n are zeros.
template <typename T, int D>
__device__ __forceinline__ void load_tile(T* dst, const T* src, long long stride, int row0, int n) {
    constexpr int C4 = D / 4;
    for (int e = threadIdx.x; e < 64 * C4; e += THREADS) {
        const int r = e / C4, c = (e - r * C4) * 4;
        V4<T> v = {T(0), T(0), T(0), T(0)};
        if (row0 + r < n) v = load4(src + (long long)(row0 + r) * stride + c);
        store4(dst + r * (D + PAD) + c, v);
    }
}

// acc[i][.] += sum_c x[row_i][c] y[c][columns of this thread]: x 64 rows of 64 + PAD, y 64 rows of D + PAD
template <typename T, int D>
__device__ __forceinline__ void accumulate_product(T (&acc)[RPT][D / 8], const T* x, const T* y,
                                                   int tr, int tc) {
    constexpr int CHUNKS = D / 32;
#pragma unroll 2
    for (int c = 0; c < 64; c += 4) {
        V4<T> a[RPT];
#pragma unroll
        for (int i = 0; i < RPT; ++i) a[i] = load4(x + (tr + 16 * i) * (64 + PAD) + c);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
#pragma unroll
            for (int ch = 0; ch < CHUNKS; ++ch) {
                const V4<T> b = load4(y + (c + u) * (D + PAD) + 32 * ch + 4 * tc);
#pragma unroll
                for (int i = 0; i < RPT; ++i) {
                    const T w = u == 0 ? a[i].x : u == 1 ? a[i].y : u == 2 ? a[i].z : a[i].w;
                    acc[i][4 * ch + 0] += w * b.x;
                    acc[i][4 * ch + 1] += w * b.y;
                    acc[i][4 * ch + 2] += w * b.z;
                    acc[i][4 * ch + 3] += w * b.w;
                }
            }
        }
    }
}

// s[i][j] += x[row_i] . y[column_j] over D, and, when Two, t[i][j] += x2[row_i] . y2[column_j]
template <typename T, int D, bool Two>
__device__ __forceinline__ void score_tile(T (&s)[RPT][CPT], T (&t)[RPT][CPT], const T* x, const T* y,
                                           const T* x2, const T* y2, int tr, int tc) {
#pragma unroll 4
    for (int kk = 0; kk < D; kk += 4) {
        V4<T> a[RPT], a2[RPT];
#pragma unroll
        for (int i = 0; i < RPT; ++i) {
            a[i] = load4(x + (tr + 16 * i) * (D + PAD) + kk);
            if (Two) a2[i] = load4(x2 + (tr + 16 * i) * (D + PAD) + kk);
        }
#pragma unroll
        for (int j = 0; j < CPT; ++j) {
            const V4<T> b = load4(y + (tc + 8 * j) * (D + PAD) + kk);
#pragma unroll
            for (int i = 0; i < RPT; ++i) s[i][j] = dot4(a[i], b, s[i][j]);
            if (Two) {
                const V4<T> b2 = load4(y2 + (tc + 8 * j) * (D + PAD) + kk);
#pragma unroll
                for (int i = 0; i < RPT; ++i) t[i][j] = dot4(a2[i], b2, t[i][j]);
            }
        }
    }
}

// A score tile of this thread's (RPT, CPT) entries: set to zero, or written to dst (64 rows of 64 + PAD)
template <typename T> __device__ __forceinline__ void clear(T (&s)[RPT][CPT]) {
#pragma unroll
    for (int i = 0; i < RPT; ++i)
#pragma unroll
        for (int j = 0; j < CPT; ++j) s[i][j] = T(0);
}
template <typename T>
__device__ __forceinline__ void stash_scores(T* dst, const T (&s)[RPT][CPT], int tr, int tc) {
#pragma unroll
    for (int i = 0; i < RPT; ++i)
#pragma unroll
        for (int j = 0; j < CPT; ++j) dst[(tr + 16 * i) * (64 + PAD) + tc + 8 * j] = s[i][j];
}

// acc += s y for this thread's score entries s: s goes through the shared buffer (64 rows of 64 + PAD),
// then the product; barriers after each step. A caller whose buffer aliases a tile still being read
// places a barrier before.
template <typename T, int D>
__device__ __forceinline__ void multiply_through(T (&acc)[RPT][D / 8], const T (&s)[RPT][CPT], T* buffer,
                                                 const T* y, int tr, int tc) {
    stash_scores(buffer, s, tr, tc);
    __syncthreads();
    accumulate_product<T, D>(acc, buffer, y, tr, tc);
    __syncthreads();
}

// Row r of a (64, D) tile, this thread's columns, from acc[i] times factor, to dst (a row of D).
template <typename T, int D>
__device__ __forceinline__ void store_row(T* dst, const T (&acc)[D / 8], T factor, int tc) {
#pragma unroll
    for (int ch = 0; ch < D / 32; ++ch)
        store4(dst + 32 * ch + 4 * tc, V4<T>{acc[4 * ch] * factor, acc[4 * ch + 1] * factor,
                                             acc[4 * ch + 2] * factor, acc[4 * ch + 3] * factor});
}

__host__ __device__ constexpr int max_int(int a, int b) { return a > b ? a : b; }

}  // namespace

// Grid (ceil(N / 64), B H), 128 threads.
template <typename T, int D>
__global__ void __launch_bounds__(THREADS) attention_forward(
        const T* __restrict__ qkv, T* __restrict__ out, T* __restrict__ lse,
        const unsigned long long* __restrict__ rng, int n, int heads, T scale_log2,
        unsigned threshold, T keep_scale) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T* q_s = reinterpret_cast<T*>(shared_bytes);
    T* k_s = q_s + BR * (D + PAD);                              // then P, (64, 64 + PAD)
    T* v_s = k_s + max_int(BC * (D + PAD), BR * (BC + PAD));
    const int tid = threadIdx.x, tr = tid >> 3, tc = tid & 7;
    const int bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const int row0 = blockIdx.x * BR;
    const int dm = heads * D;
    const long long stride = 3LL * dm;
    const T* q_g = qkv + (long long)b * n * stride + h * D;
    const T* k_g = q_g + dm;
    const T* v_g = q_g + 2 * dm;

    load_tile<T, D>(q_s, q_g, stride, row0, n);
    T m[RPT], l[RPT], acc[RPT][D / 8];
    unsigned rowkey[RPT];
    const unsigned key = threshold ? rng_key(rng) : 0u;
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
        m[i] = -infinity<T>();
        l[i] = T(0);
#pragma unroll
        for (int c = 0; c < D / 8; ++c) acc[i][c] = T(0);
        rowkey[i] = row_key(key, (unsigned)bh * (unsigned)n + (unsigned)(row0 + tr + 16 * i));
    }

    for (int col0 = 0; col0 < n; col0 += BC) {
        load_tile<T, D>(k_s, k_g, stride, col0, n);
        load_tile<T, D>(v_s, v_g, stride, col0, n);
        __syncthreads();
        T s[RPT][CPT];
        clear(s);
        score_tile<T, D, false>(s, s, q_s, k_s, nullptr, nullptr, tr, tc);
        // online softmax: rescale what the earlier tiles gave by 2^(m_old - m_new)
#pragma unroll
        for (int i = 0; i < RPT; ++i) {
            T top = m[i];
#pragma unroll
            for (int j = 0; j < CPT; ++j) {
                s[i][j] = col0 + tc + 8 * j < n ? s[i][j] * scale_log2 : -infinity<T>();
                top = max_(top, s[i][j]);
            }
            top = row_max(top);                 // finite: every tile holds at least one key
            const T alpha = exp2_(m[i] - top);  // 0 on the first tile (m = -inf)
            T sum = T(0);
#pragma unroll
            for (int j = 0; j < CPT; ++j) {
                const T p = exp2_(s[i][j] - top);
                sum += p;
                s[i][j] = threshold == 0u ? p
                        : kept(rowkey[i], (unsigned)(col0 + tc + 8 * j), threshold) ? p * keep_scale : T(0);
            }
            l[i] = l[i] * alpha + row_sum(sum);
            m[i] = top;
#pragma unroll
            for (int c = 0; c < D / 8; ++c) acc[i][c] *= alpha;
        }
        __syncthreads();  // every thread is done with k_s: P goes there (multiply_through)
        multiply_through<T, D>(acc, s, k_s, v_s, tr, tc);   // ends with the barrier the next tiles need
    }
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
        const int row = row0 + tr + 16 * i;
        if (row < n) {
            const long long token = (long long)b * n + row;
            store_row<T, D>(out + token * dm + h * D, acc[i], T(1) / l[i], tc);
            if (tc == 0) lse[token * heads + h] = m[i] + log2_(l[i]);
        }
    }
}

// delta[r] = sum over d of G[r] O[r], one thread per row r of (B N H) rows of d.
template <typename T, int D>
__global__ void attention_delta(const T* __restrict__ grad_out, const T* __restrict__ out,
                                T* __restrict__ delta, int rows) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const T* g = grad_out + (long long)r * D;
    const T* o = out + (long long)r * D;
    T total = T(0);
#pragma unroll
    for (int c = 0; c < D; c += 4) total = dot4(load4(g + c), load4(o + c), total);
    delta[r] = total;
}

// dK and dV of a tile of 64 keys. Grid (ceil(N / 64), B H), 128 threads.
template <typename T, int D>
__global__ void __launch_bounds__(THREADS) attention_backward_kv(
        const T* __restrict__ qkv, const T* __restrict__ grad_out, const T* __restrict__ lse,
        const T* __restrict__ delta, const unsigned long long* __restrict__ rng, T* __restrict__ grad,
        int n, int heads, T scale_log2, T scale, unsigned threshold, T keep_scale) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T* k_s = reinterpret_cast<T*>(shared_bytes);
    T* v_s = k_s + BC * (D + PAD);
    T* q_s = v_s + BC * (D + PAD);
    T* g_s = q_s + BR * (D + PAD);
    T* x_s = g_s + BR * (D + PAD);     // dS^T, then (P o Z)^T: (64 keys, 64 + PAD)
    T* lse_s = x_s + BC * (BR + PAD);
    T* delta_s = lse_s + BR;
    const int tid = threadIdx.x, tr = tid >> 3, tc = tid & 7;
    const int bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const int key0 = blockIdx.x * BC;
    const int dm = heads * D;
    const long long stride = 3LL * dm;
    const T* q_g = qkv + (long long)b * n * stride + h * D;
    const T* g_g = grad_out + (long long)b * n * dm + h * D;
    const unsigned key = threshold ? rng_key(rng) : 0u;

    load_tile<T, D>(k_s, q_g + dm, stride, key0, n);
    load_tile<T, D>(v_s, q_g + 2 * dm, stride, key0, n);
    T dk[RPT][D / 8], dv[RPT][D / 8];
#pragma unroll
    for (int i = 0; i < RPT; ++i)
#pragma unroll
        for (int c = 0; c < D / 8; ++c) dk[i][c] = dv[i][c] = T(0);

    for (int row0 = 0; row0 < n; row0 += BR) {
        load_tile<T, D>(q_s, q_g, stride, row0, n);
        load_tile<T, D>(g_s, g_g, dm, row0, n);
        for (int e = tid; e < BR; e += THREADS) {
            const int row = row0 + e;
            const long long at = ((long long)b * n + row) * heads + h;
            lse_s[e] = row < n ? lse[at] : infinity<T>();  // rows past N: P = 0
            delta_s[e] = row < n ? delta[at] : T(0);
        }
        __syncthreads();
        T st[RPT][CPT], dpt[RPT][CPT];   // S^T and (G V^T)^T: rows are keys, columns queries
        clear(st);
        clear(dpt);
        score_tile<T, D, true>(st, dpt, k_s, q_s, v_s, g_s, tr, tc);
#pragma unroll
        for (int j = 0; j < CPT; ++j) {
            const int q = tc + 8 * j;
            const unsigned rowkey = row_key(key, (unsigned)bh * (unsigned)n + (unsigned)(row0 + q));
#pragma unroll
            for (int i = 0; i < RPT; ++i) {
                const T p = exp2_(st[i][j] * scale_log2 - lse_s[q]);
                const T z = threshold == 0u ? T(1)
                          : kept(rowkey, (unsigned)(key0 + tr + 16 * i), threshold) ? keep_scale : T(0);
                dpt[i][j] = p * (dpt[i][j] * z - delta_s[q]);   // dS^T
                st[i][j] = p * z;                              // (P o Z)^T
            }
        }
        // x_s was last read before the closing barrier of the previous tile
        multiply_through<T, D>(dk, dpt, x_s, q_s, tr, tc);
        multiply_through<T, D>(dv, st, x_s, g_s, tr, tc);   // ends with the barrier the next tiles need
    }
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
        const int k = key0 + tr + 16 * i;
        if (k < n) {
            T* row = grad + ((long long)b * n + k) * stride + h * D;
            store_row<T, D>(row + dm, dk[i], scale, tc);
            store_row<T, D>(row + 2 * dm, dv[i], T(1), tc);
        }
    }
}

// dQ of a tile of 64 queries. Grid (ceil(N / 64), B H), 128 threads.
template <typename T, int D>
__global__ void __launch_bounds__(THREADS) attention_backward_q(
        const T* __restrict__ qkv, const T* __restrict__ grad_out, const T* __restrict__ lse,
        const T* __restrict__ delta, const unsigned long long* __restrict__ rng, T* __restrict__ grad,
        int n, int heads, T scale_log2, T scale, unsigned threshold, T keep_scale) {
    extern __shared__ __align__(16) unsigned char shared_bytes[];
    T* q_s = reinterpret_cast<T*>(shared_bytes);
    T* g_s = q_s + BR * (D + PAD);
    T* k_s = g_s + BR * (D + PAD);
    T* v_s = k_s + BC * (D + PAD);     // then dS, (64 queries, 64 + PAD)
    const int tid = threadIdx.x, tr = tid >> 3, tc = tid & 7;
    const int bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    const int row0 = blockIdx.x * BR;
    const int dm = heads * D;
    const long long stride = 3LL * dm;
    const T* q_g = qkv + (long long)b * n * stride + h * D;
    const unsigned key = threshold ? rng_key(rng) : 0u;

    load_tile<T, D>(q_s, q_g, stride, row0, n);
    load_tile<T, D>(g_s, grad_out + (long long)b * n * dm + h * D, dm, row0, n);
    T row_lse[RPT], row_delta[RPT], dq[RPT][D / 8];
    unsigned rowkey[RPT];
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
        const int row = row0 + tr + 16 * i;
        const long long at = ((long long)b * n + row) * heads + h;
        row_lse[i] = row < n ? lse[at] : T(0);      // rows past N are never stored
        row_delta[i] = row < n ? delta[at] : T(0);
        rowkey[i] = row_key(key, (unsigned)bh * (unsigned)n + (unsigned)row);
#pragma unroll
        for (int c = 0; c < D / 8; ++c) dq[i][c] = T(0);
    }

    for (int col0 = 0; col0 < n; col0 += BC) {
        load_tile<T, D>(k_s, q_g + dm, stride, col0, n);
        load_tile<T, D>(v_s, q_g + 2 * dm, stride, col0, n);
        __syncthreads();
        T s[RPT][CPT], dp[RPT][CPT];
        clear(s);
        clear(dp);
        score_tile<T, D, true>(s, dp, q_s, k_s, g_s, v_s, tr, tc);
#pragma unroll
        for (int i = 0; i < RPT; ++i)
#pragma unroll
            for (int j = 0; j < CPT; ++j) {
                const int col = col0 + tc + 8 * j;
                const T p = col < n ? exp2_(s[i][j] * scale_log2 - row_lse[i]) : T(0);
                const T z = threshold == 0u ? T(1)
                          : kept(rowkey[i], (unsigned)col, threshold) ? keep_scale : T(0);
                s[i][j] = p * (dp[i][j] * z - row_delta[i]);   // dS
            }
        __syncthreads();  // every thread is done with v_s: dS goes there (multiply_through)
        multiply_through<T, D>(dq, s, v_s, k_s, tr, tc);    // ends with the barrier the next tiles need
    }
#pragma unroll
    for (int i = 0; i < RPT; ++i) {
        const int row = row0 + tr + 16 * i;
        if (row < n) store_row<T, D>(grad + ((long long)b * n + row) * stride + h * D, dq[i], scale, tc);
    }
}

// snapshot = state, then state's offset moves on: one thread, before each forward pass that drops.
extern "C" __global__ void attention_rng_advance(unsigned long long* state, unsigned long long* snapshot) {
    snapshot[0] = state[0];
    snapshot[1] = state[1];
    state[1] += 1ull;
}
