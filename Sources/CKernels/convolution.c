#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

/* Direct convolution. Each output element is bias (or 0) followed by one fused multiply-add per tap, taps in
   the order (kh, kw, c), whatever the vector width, block or position: every output of the same input window
   has the same bits (translation consistency), and the AVX-512, AVX2 and scalar paths agree bit for bit.
   Taps that fall in the zero padding add fma(0, w, acc) = acc. */

static long forced_lanes = -1;

static long supported_lanes(void) {
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
    return 0;
}

long lucerna_conv2d_direct_lanes(void) { return forced_lanes >= 0 ? forced_lanes : supported_lanes(); }

int lucerna_conv2d_direct_set_lanes(long lanes) {
    long best = supported_lanes();
    if (lanes < 0) { forced_lanes = -1; return 1; }
    if (lanes == 1 || (lanes == 8 && best >= 8) || (lanes == 16 && best == 16)) { forced_lanes = lanes; return 1; }
    return 0;
}

void lucerna_conv2d_pack_weight(const float *weight, long outputs, long channels, long kernel_h, long kernel_w,
                                int adjoint, long padded_outputs, float *packed) {
    /* packed[((c * kernel_h + kh) * kernel_w + kw) * padded_outputs + o], zeros for o >= outputs.
       adjoint = 0: weight is [outputs, channels, kh, kw] (a forward convolution).
       adjoint = 1: weight is [channels, outputs, kh, kw] and the taps are flipped: the stride-1 convolution
       whose output is the gradient of the input of the forward convolution with that weight. */
    memset(packed, 0, sizeof(float) * (size_t)(kernel_h * kernel_w * channels * padded_outputs));
    for (long c = 0; c < channels; c++)
        for (long kh = 0; kh < kernel_h; kh++)
            for (long kw = 0; kw < kernel_w; kw++)
                for (long o = 0; o < outputs; o++) {
                    float value = adjoint
                        ? weight[((c * outputs + o) * kernel_h + (kernel_h - 1 - kh)) * kernel_w + (kernel_w - 1 - kw)]
                        : weight[((o * channels + c) * kernel_h + kh) * kernel_w + kw];
                    packed[((c * kernel_h + kh) * kernel_w + kw) * padded_outputs + o] = value;
                }
}

/* The layout: each sample is copied into zero-padded planes [C][Hp][Wp] (plus slack), and the outputs are
   computed at every "flat" position q = oh * Wp + ow of the padded width, so that the input of tap (kh, kw)
   for positions q, q+1, ... is the contiguous run starting at q + kh * Wp + kw of each plane. Positions with
   ow >= Wo (and past Ho * Wp) are computed and dropped. Output channels go four at a time, each weight
   broadcast; positions a vector at a time. */
typedef struct {
    const float *planes, *packed, *bias; /* bias padded to padded_outputs, or NULL */
    long channels, plane_size, padded_width, padded_outputs, kernel_h, kernel_w, flat_length;
    float *flat; /* [padded_outputs][flat_length] */
} Geometry;

#define OUTPUTS_PER_BLOCK 4

static void block_scalar(const Geometry *g, long o0, long q0, long count) {
    for (long j = 0; j < OUTPUTS_PER_BLOCK; j++)
        for (long q = q0; q < q0 + count; q++) {
            float acc = g->bias ? g->bias[o0 + j] : 0.0f;
            for (long c = 0; c < g->channels; c++)
                for (long kh = 0; kh < g->kernel_h; kh++)
                    for (long kw = 0; kw < g->kernel_w; kw++)
                        acc = fmaf(g->planes[c * g->plane_size + q + kh * g->padded_width + kw],
                                   g->packed[((c * g->kernel_h + kh) * g->kernel_w + kw) * g->padded_outputs + o0 + j],
                                   acc);
            g->flat[(o0 + j) * g->flat_length + q] = acc;
        }
}

#define DIRECT_BLOCK(NAME, TARGET, VEC, LANES, ZERO, LOAD, SET1, FMA, STORE)                                     \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(const Geometry *g, long o0, long q0,  \
                                                                          const int B) {                         \
        VEC acc[OUTPUTS_PER_BLOCK][6];                                                                         \
        for (int j = 0; j < OUTPUTS_PER_BLOCK; j++)                                                            \
            for (int b = 0; b < B; b++) acc[j][b] = g->bias ? SET1(g->bias[o0 + j]) : ZERO();                  \
        for (long c = 0; c < g->channels; c++)                                                                 \
            for (long kh = 0; kh < g->kernel_h; kh++)                                                          \
                for (long kw = 0; kw < g->kernel_w; kw++) {                                                    \
                    const float *x = g->planes + c * g->plane_size + q0 + kh * g->padded_width + kw;          \
                    const float *w = g->packed + ((c * g->kernel_h + kh) * g->kernel_w + kw) * g->padded_outputs + o0; \
                    VEC values[6];                                                                             \
                    for (int b = 0; b < B; b++) values[b] = LOAD(x + b * LANES);                               \
                    for (int j = 0; j < OUTPUTS_PER_BLOCK; j++) {                                              \
                        VEC weight = SET1(w[j]);                                                               \
                        for (int b = 0; b < B; b++) acc[j][b] = FMA(values[b], weight, acc[j][b]);            \
                    }                                                                                          \
                }                                                                                              \
        for (int j = 0; j < OUTPUTS_PER_BLOCK; j++)                                                            \
            for (int b = 0; b < B; b++) STORE(g->flat + (o0 + j) * g->flat_length + q0 + b * LANES, acc[j][b]); \
    }

DIRECT_BLOCK(block_avx512, "avx512f", __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps,
             _mm512_fmadd_ps, _mm512_storeu_ps)
DIRECT_BLOCK(block_avx2, "avx2,fma", __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps,
             _mm256_fmadd_ps, _mm256_storeu_ps)

/* Every output of one sample: blocks of 4 output channels × up to WIDEST vectors of positions, each block size
   its own specialisation so the accumulators stay in registers. flat_length is a multiple of LANES. */
#define DIRECT_SAMPLE(NAME, BLOCK, TARGET, LANES, WIDEST)                                                      \
    __attribute__((target(TARGET))) static void NAME(const Geometry *g) {                                     \
        for (long o0 = 0; o0 < g->padded_outputs; o0 += OUTPUTS_PER_BLOCK)                                     \
            for (long q0 = 0; q0 < g->flat_length; q0 += WIDEST * LANES) {                                     \
                const long vectors = (g->flat_length - q0) / LANES;                                            \
                switch (vectors < WIDEST ? vectors : WIDEST) {                                                 \
                case 1: BLOCK(g, o0, q0, 1); break;                                                            \
                case 2: BLOCK(g, o0, q0, 2); break;                                                            \
                case 3: BLOCK(g, o0, q0, 3); break;                                                            \
                case 4: BLOCK(g, o0, q0, 4); break;                                                            \
                case 5: BLOCK(g, o0, q0, 5); break;                                                            \
                case 6: BLOCK(g, o0, q0, 6); break;                                                            \
                default: break;                                                                                \
                }                                                                                              \
            }                                                                                                  \
    }

DIRECT_SAMPLE(sample_avx512, block_avx512, "avx512f", 16, 6)
DIRECT_SAMPLE(sample_avx2, block_avx2, "avx2,fma", 8, 3)

static long flat_length(long output_height, long padded_width, long lanes) {
    long step = lanes > 1 ? lanes : 1;
    return (output_height * padded_width + step - 1) / step * step;
}

void lucerna_conv2d_direct_f32(const float *input, long count, long channels, long height, long width,
                               const float *packed, const float *padded_bias, long outputs, long padded_outputs,
                               long kernel_h, long kernel_w, long pad_h, long pad_w, float *output,
                               float *scratch) {
    const long padded_height = height + 2 * pad_h, padded_width = width + 2 * pad_w;
    const long output_height = padded_height - kernel_h + 1, output_width = padded_width - kernel_w + 1;
    const long lanes = lucerna_conv2d_direct_lanes();
    const long plane_size = padded_height * padded_width;
    const long flat = flat_length(output_height, padded_width, lanes);
    const long slack = (lanes > 1 ? lanes : 1) + kernel_w;
    float *planes = scratch;
    Geometry g = {planes, packed, padded_bias, channels, plane_size, padded_width, padded_outputs, kernel_h, kernel_w,
                  flat, scratch + channels * plane_size + slack};
    memset(planes, 0, sizeof(float) * (size_t)(channels * plane_size + slack));
    for (long n = 0; n < count; n++) {
        const float *sample = input + n * channels * height * width;
        for (long c = 0; c < channels; c++)
            for (long h = 0; h < height; h++)
                memcpy(planes + c * plane_size + (h + pad_h) * padded_width + pad_w, sample + (c * height + h) * width,
                       sizeof(float) * (size_t)width);
        if (lanes == 16) sample_avx512(&g);
        else if (lanes == 8) sample_avx2(&g);
        else
            for (long o0 = 0; o0 < padded_outputs; o0 += OUTPUTS_PER_BLOCK)
                block_scalar(&g, o0, 0, output_height * padded_width);
        float *destination = output + n * outputs * output_height * output_width;
        for (long o = 0; o < outputs; o++)
            for (long oh = 0; oh < output_height; oh++)
                memcpy(destination + (o * output_height + oh) * output_width, g.flat + o * flat + oh * padded_width,
                       sizeof(float) * (size_t)output_width);
    }
}

long lucerna_conv2d_direct_scratch(long channels, long height, long width, long kernel_h, long kernel_w, long pad_h,
                                   long pad_w, long padded_outputs) {
    const long padded_height = height + 2 * pad_h, padded_width = width + 2 * pad_w;
    const long lanes = lucerna_conv2d_direct_lanes();
    return channels * padded_height * padded_width + (lanes > 1 ? lanes : 1) + kernel_w +
           padded_outputs * flat_length(padded_height - kernel_h + 1, padded_width, lanes);
}
