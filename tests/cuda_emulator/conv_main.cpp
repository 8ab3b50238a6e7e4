// The implicit-GEMM convolution of minifb/autograd/conv_kernel.cu on the CPU (cuda_shim.h).
//   conv_main BATCH HAS_BIAS [f|d]
// with the geometry's constants in geometry.h (conv.py's _Geometry.cuda_constants) on the include
// path; reads x.bin (N, C, H, W), w_t.bin (C kh kw, Cout) and bias.bin (Cout) from the working
// folder and writes out.bin (N, Cout, Ho, Wo), launched as conv.py launches it.
#include "cuda_shim.h"
#include "geometry.h"
#include "conv_kernel.cu"
#include <cstdio>
#include <cstdlib>
template <class T> std::vector<T> readf(const char* name, size_t n) {
    std::vector<T> v(n); FILE* f = fopen(name, "rb"); if (!f || fread(v.data(), sizeof(T), n, f) != n) abort(); fclose(f); return v;
}
template <class T> void run(int batch, int has_bias) {
    auto x = readf<T>("x.bin", (size_t)batch * CHANNELS * HEIGHT * WIDTH);
    auto w_t = readf<T>("w_t.bin", (size_t)KSIZE * OUT_CHANNELS);
    auto bias = readf<T>("bias.bin", OUT_CHANNELS);
    std::vector<T> out((size_t)batch * OUT_CHANNELS * PIXELS, T(-777));
    const int pixels = batch * PIXELS;
    launch(dim3{(unsigned)((pixels + 127) / 128), (unsigned)((OUT_CHANNELS + 63) / 64), 1}, 128, conv2d_forward<T>,
           (const T*)x.data(), (const T*)w_t.data(), (const T*)bias.data(), out.data(), batch, has_bias);
    FILE* f = fopen("out.bin", "wb"); fwrite(out.data(), sizeof(T), out.size(), f); fclose(f);
}
int main(int argc, char** argv) {
    int batch = atoi(argv[1]), has_bias = atoi(argv[2]);
    if (argc > 3 && argv[3][0] == 'd') run<double>(batch, has_bias); else run<float>(batch, has_bias);
}
