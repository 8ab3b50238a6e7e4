// The attention kernels of minifb/autograd/attention_kernel.cu on the CPU (cuda_shim.h): forward,
// delta and both backward kernels, launched as fused_attention launches them.
//   attention_main B N HEADS D P SEED OFFSET [f|d]
// reads qkv.bin (B, N, 3 HEADS D) and g.bin (B, N, HEADS D), float or double, from the working folder
// and writes out.bin, lse.bin and grad.bin there.
#include "cuda_shim.h"
#include "attention_kernel.cu"
#include <cstdio>
#include <cstdlib>
template <class T> std::vector<T> readf(const char* name, size_t n) {
    std::vector<T> v(n); FILE* f = fopen(name, "rb"); if (fread(v.data(), sizeof(T), n, f) != n) abort(); fclose(f); return v;
}
template <class T> void writef(const char* name, const std::vector<T>& v) {
    FILE* f = fopen(name, "wb"); fwrite(v.data(), sizeof(T), v.size(), f); fclose(f);
}
template <class T, int D> void run(int b, int n, int heads, double p, unsigned long long seed, unsigned long long offset) {
    const int dm = heads * D;
    auto qkv = readf<T>("qkv.bin", (size_t)b * n * 3 * dm);
    auto g = readf<T>("g.bin", (size_t)b * n * dm);
    std::vector<T> out((size_t)b * n * dm), lse((size_t)b * n * heads), delta(lse.size()), grad(qkv.size(), T(-777));
    unsigned long long rng[2] = {seed, offset};
    unsigned threshold = p > 0 ? (unsigned)std::min(std::llround(p * 4294967296.0), 4294967295LL) : 0u;
    T keep = p > 0 ? T(1 / (1 - p)) : T(1);
    T scale = T(1 / std::sqrt((double)D)), sl2 = T((1 / std::sqrt((double)D)) * std::log2(std::exp(1.0)));
    dim3 grid{(unsigned)((n + 63) / 64), (unsigned)(b * heads), 1};
    launch(grid, 128, attention_forward<T, D>, (const T*)qkv.data(), out.data(), lse.data(), (const unsigned long long*)rng, n, heads, sl2, threshold, keep);
    int rows = b * n * heads;
    launch(dim3{(unsigned)((rows + 255) / 256), 1, 1}, 256, attention_delta<T, D>, (const T*)g.data(), (const T*)out.data(), delta.data(), rows);
    launch(grid, 128, attention_backward_kv<T, D>, (const T*)qkv.data(), (const T*)g.data(), (const T*)lse.data(), (const T*)delta.data(), (const unsigned long long*)rng, grad.data(), n, heads, sl2, scale, threshold, keep);
    launch(grid, 128, attention_backward_q<T, D>, (const T*)qkv.data(), (const T*)g.data(), (const T*)lse.data(), (const T*)delta.data(), (const unsigned long long*)rng, grad.data(), n, heads, sl2, scale, threshold, keep);
    writef("out.bin", out); writef("grad.bin", grad); writef("lse.bin", lse);
}
int main(int argc, char** argv) {
    int b = atoi(argv[1]), n = atoi(argv[2]), heads = atoi(argv[3]), d = atoi(argv[4]);
    double p = atof(argv[5]); unsigned long long seed = strtoull(argv[6], 0, 10), offset = strtoull(argv[7], 0, 10);
    bool dbl = argc > 8 && argv[8][0] == 'd';
    if (dbl) { if (d == 32) run<double, 32>(b, n, heads, p, seed, offset); else run<double, 64>(b, n, heads, p, seed, offset); }
    else { if (d == 32) run<float, 32>(b, n, heads, p, seed, offset); else run<float, 64>(b, n, heads, p, seed, offset); }
}
