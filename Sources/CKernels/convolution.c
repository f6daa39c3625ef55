#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

/* Direct convolution. Each output element is its bias (or 0) followed by one fused multiply-add per tap, taps
   in a fixed order, whatever the vector width, block or position: every output of the same input window (at
   positions of the same phase of the stride) has the same bits (translation consistency), and the AVX-512,
   AVX2 and scalar bodies agree bit for bit. Taps that fall in the zero padding add fma(0, w, acc) = acc.

   Every convolution here is run as stride-1 convolutions over "planes": a sample is copied into zero-padded
   planes, and the outputs are computed at every flat position q = m * plane_width + n of a plane, so that the
   input of a tap for positions q, q+1, ... is the contiguous run starting at q + offset(tap). Positions
   outside the output are computed and dropped.
   - Forward, stride s, dilation d: the padded image is split into s_h × s_w phase planes per channel, plane
     (c, p, q)[u][v] = padded[c][s_h u + p][s_w v + q]; tap (c, i, j) reads plane (c, d i mod s_h, d j mod s_w)
     at row offset d i div s_h and column offset d j div s_w. One phase of outputs; taps in the order (c, i, j).
   - Transposed (the adjoint of a forward convolution in its input; dilation 1): the output gradient, padded by
     ceil(k/s) - 1 on the top and left, is one plane per channel; the outputs with (i + padding) mod s = r form
     phase r, a stride-1 convolution with the taps k ≡ r (mod s), flipped. */

static long forced_lanes = -1;
static int emulated_avx512 = 0;

static int has_avx2_fma(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

static long supported_lanes(void) {
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (has_avx2_fma()) return 8;
    return 0;
}

long lucerna_conv2d_direct_lanes(void) { return forced_lanes >= 0 ? forced_lanes : supported_lanes(); }

int lucerna_conv2d_direct_set_lanes(long lanes) {
    long best = supported_lanes();
    if (lanes < 0) { forced_lanes = -1; return 1; }
    if (lanes == 1 || (lanes == 8 && best >= 8) || (lanes == 16 && (best == 16 || emulated_avx512))) {
        forced_lanes = lanes;
        return 1;
    }
    return 0;
}

int lucerna_conv2d_direct_emulate_avx512(int on) {
    if (on && !has_avx2_fma()) return 0;
    emulated_avx512 = on != 0;
    if (!on && forced_lanes == 16 && supported_lanes() != 16) forced_lanes = -1;
    return 1;
}

static int forced_channel_vectors = -1;

int lucerna_conv2d_direct_set_channel_vectors(int mode) {
    if (mode < -1 || mode > 1) return 0;
    forced_channel_vectors = mode;
    return 1;
}

static long ceiling_division(long a, long b) { return (a + b - 1) / b; }

#define MAX_PHASES (LUCERNA_CONV2D_MAX_STRIDE * LUCERNA_CONV2D_MAX_STRIDE)

typedef struct {
    long taps, offsets_at; /* this phase's taps, and its first tap (its offsets and packed weights start there) */
    long row_begin, rows, col_begin, cols; /* flat rows row_begin..; columns col_begin.. of each row kept */
    long flat_length;                      /* rows * plane_width rounded up to whole vectors */
    long out_row, out_col, row_step, col_step; /* the output position of (row_begin, col_begin) and steps */
} Phase;

typedef struct {
    long in_channels, in_height, in_width, out_channels, out_height, out_width;
    long split_h, split_w, top, left; /* phase planes per channel along each axis; where input (0, 0) goes */
    long plane_height, plane_width, plane_count, slack;
    long padded_outputs, lanes, phase_count, flat_capacity, has_bias;
    long channel_vectors, weight_stride; /* 1: vectors over output channels; the packed weights' row length */
    long emulated; /* sixteen lanes run by the AVX-512 bodies' emulation on AVX2 (tests) */
    long weight_positions; /* the weight gradient with vectors over positions (stride 1, fewer than 64 taps) */
    long shifted_forward;  /* the forward pass over shifted planes, straight into the output (see Shifted) */
    long offsets_count, packed_count;
    Phase phases[MAX_PHASES];
} Plan;

/* The plan's arrays follow the header: offsets (long), packed weights [tap][weight_stride] (float) and the
   bias padded to weight_stride (float). The packed weights start on a 64-byte boundary of the plan (whose memory
   is 64-byte aligned): the blocks load them in whole vectors, and 8 bytes off that boundary — a field added to
   the header — made every other AVX2 load cross a cache line and the benchmark CNN's second convolution 8 %
   slower forward (scripts/bench/convolution_kernels.c). */
static long packed_at(const Plan *plan) {
    return ceiling_division((long)sizeof(Plan) + plan->offsets_count * (long)sizeof(long), 64) * 64;
}
static long *plan_offsets(const Plan *plan) { return (long *)(void *)((char *)(uintptr_t)plan + sizeof(Plan)); }
static float *plan_packed(const Plan *plan) { return (float *)(void *)((char *)(uintptr_t)plan + packed_at(plan)); }
static float *plan_bias(const Plan *plan) { return plan_packed(plan) + plan->packed_count; }

typedef struct {
    const float *planes, *packed, *bias; /* planes at the phase's first row; bias padded, or NULL */
    const long *offsets;
    long taps, padded_outputs, flat_length; /* padded_outputs: also the packed weights' row length here */
    float *flat; /* [padded_outputs][flat_length] */
} Geometry;

#define OUTPUTS_PER_BLOCK 4

static void block_scalar(const Geometry *g, long o0, long q0, long count) {
    for (long j = 0; j < OUTPUTS_PER_BLOCK; j++)
        for (long q = q0; q < q0 + count; q++) {
            float acc = g->bias ? g->bias[o0 + j] : 0.0f;
            for (long t = 0; t < g->taps; t++)
                acc = fmaf(g->planes[g->offsets[t] + q], g->packed[t * g->padded_outputs + o0 + j], acc);
            g->flat[(o0 + j) * g->flat_length + q] = acc;
        }
}

#define DIRECT_BLOCK(NAME, TARGET, VEC, LANES, ZERO, LOAD, SET1, FMA, STORE)                                     \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(const Geometry *g, long o0, long q0,  \
                                                                          const int B) {                         \
        VEC acc[OUTPUTS_PER_BLOCK][6];                                                                         \
        for (int j = 0; j < OUTPUTS_PER_BLOCK; j++)                                                            \
            for (int b = 0; b < B; b++) acc[j][b] = g->bias ? SET1(g->bias[o0 + j]) : ZERO();                  \
        const float *base = g->planes + q0;                                                                    \
        const float *w = g->packed + o0;                                                                       \
        for (long t = 0; t < g->taps; t++, w += g->padded_outputs) {                                           \
            const float *x = base + g->offsets[t];                                                             \
            VEC values[6];                                                                                     \
            for (int b = 0; b < B; b++) values[b] = LOAD(x + b * LANES);                                       \
            for (int j = 0; j < OUTPUTS_PER_BLOCK; j++) {                                                      \
                VEC weight = SET1(w[j]);                                                                       \
                for (int b = 0; b < B; b++) acc[j][b] = FMA(values[b], weight, acc[j][b]);                    \
            }                                                                                                  \
        }                                                                                                      \
        for (int j = 0; j < OUTPUTS_PER_BLOCK; j++)                                                            \
            for (int b = 0; b < B; b++) STORE(g->flat + (o0 + j) * g->flat_length + q0 + b * LANES, acc[j][b]); \
    }

/* The AVX-512 bodies' blocking, shared with their emulation below so that the emulation runs the same blocks. */
#define AVX512_DIRECT_WIDEST 6
#define AVX512_CHANNEL_WIDEST 4
#define AVX512_WEIGHT_WIDEST 4

/* For tests on CPUs without AVX-512: a sixteen-lane vector made of two AVX2 registers, each operation the
   AVX-512 instruction's lane by lane (an FMA is one rounding either way), so the AVX-512 bodies' code — the same
   macros with the same blocks, tiles and tails — runs and is compared bit for bit with the scalar body here.
   Its speed means nothing (the accumulators no longer fit the registers). */
typedef struct {
    __m256 low, high;
} Emulated512;

__attribute__((target("avx2,fma"), always_inline)) static inline Emulated512 emulated_zero(void) {
    return (Emulated512){_mm256_setzero_ps(), _mm256_setzero_ps()};
}
__attribute__((target("avx2,fma"), always_inline)) static inline Emulated512 emulated_load(const float *p) {
    return (Emulated512){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
__attribute__((target("avx2,fma"), always_inline)) static inline Emulated512 emulated_set1(float value) {
    return (Emulated512){_mm256_set1_ps(value), _mm256_set1_ps(value)};
}
__attribute__((target("avx2,fma"), always_inline)) static inline Emulated512 emulated_fma(Emulated512 a, Emulated512 b,
                                                                                           Emulated512 c) {
    return (Emulated512){_mm256_fmadd_ps(a.low, b.low, c.low), _mm256_fmadd_ps(a.high, b.high, c.high)};
}
__attribute__((target("avx2,fma"), always_inline)) static inline void emulated_store(float *p, Emulated512 value) {
    _mm256_storeu_ps(p, value.low);
    _mm256_storeu_ps(p + 8, value.high);
}

DIRECT_BLOCK(block_avx512, "avx512f", __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps,
             _mm512_fmadd_ps, _mm512_storeu_ps)
DIRECT_BLOCK(block_emulated512, "avx2,fma", Emulated512, 16, emulated_zero, emulated_load, emulated_set1,
             emulated_fma, emulated_store)
DIRECT_BLOCK(block_avx2, "avx2,fma", __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps,
             _mm256_fmadd_ps, _mm256_storeu_ps)

/* Every flat output of one phase of one sample: blocks of 4 output channels × up to WIDEST vectors of
   positions, each block size its own specialisation so the accumulators stay in registers. flat_length is a
   multiple of LANES. */
#define DIRECT_PHASE(NAME, BLOCK, TARGET, LANES, WIDEST)                                                       \
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

DIRECT_PHASE(phase_avx512, block_avx512, "avx512f", 16, AVX512_DIRECT_WIDEST)
DIRECT_PHASE(phase_emulated512, block_emulated512, "avx2,fma", 16, AVX512_DIRECT_WIDEST)
/* AVX2 has 16 vector registers: 4 channels × 3 vectors of accumulators, 3 input vectors and a weight took all
   16, and the compiler spilled in the tap loop (the body ran at about half the speed of im2col + SGEMM). */
DIRECT_PHASE(phase_avx2, block_avx2, "avx2,fma", 8, 2)

/* Vectors over output channels: a block holds up to POSITIONS real output positions × up to four vectors of
   output channels in registers; per tap, the weights' vectors are loaded once and each position's input is
   broadcast. Same products, same order, same bits as the blocks above: fma(x, w, acc) per tap from the bias. The
   block's sums go to buffer[position][weight_stride]. */
typedef struct {
    const float *planes, *packed, *bias; /* planes at the phase's first row; packed at its first tap */
    const long *offsets;
    long taps, stride; /* stride: the packed weights' and the buffer's row length */
    float *buffer;
    int accumulate; /* whether the block's sums start from the buffer (a later tile of taps) or the bias */
} ChannelGeometry;


#define CHANNEL_BLOCK(NAME, TARGET, VEC, LANES, ZERO, LOAD, SET1, FMA, STORE)                                    \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(                                    \
        const ChannelGeometry *g, const long *q, long p0, long o0, const int P, const int V) {                 \
        VEC acc[6][4];                                                                                         \
        for (int p = 0; p < P; p++)                                                                            \
            for (int v = 0; v < V; v++)                                                                        \
                acc[p][v] = g->accumulate ? LOAD(g->buffer + (p0 + p) * g->stride + o0 + v * LANES)            \
                            : g->bias     ? LOAD(g->bias + o0 + v * LANES)                                     \
                                          : ZERO();                                                            \
        const float *w = g->packed + o0;                                                                       \
        for (long t = 0; t < g->taps; t++, w += g->stride) {                                                   \
            const float *x = g->planes + g->offsets[t];                                                        \
            VEC weight[4];                                                                                     \
            for (int v = 0; v < V; v++) weight[v] = LOAD(w + v * LANES);                                       \
            for (int p = 0; p < P; p++) {                                                                      \
                const VEC value = SET1(x[q[p]]);                                                               \
                for (int v = 0; v < V; v++) acc[p][v] = FMA(value, weight[v], acc[p][v]);                      \
            }                                                                                                  \
        }                                                                                                      \
        for (int p = 0; p < P; p++)                                                                            \
            for (int v = 0; v < V; v++) STORE(g->buffer + (p0 + p) * g->stride + o0 + v * LANES, acc[p][v]);   \
    }

CHANNEL_BLOCK(channel_block_avx512, "avx512f", __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps,
              _mm512_fmadd_ps, _mm512_storeu_ps)
CHANNEL_BLOCK(channel_block_emulated512, "avx2,fma", Emulated512, 16, emulated_zero, emulated_load, emulated_set1,
              emulated_fma, emulated_store)
CHANNEL_BLOCK(channel_block_avx2, "avx2,fma", __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps,
              _mm256_fmadd_ps, _mm256_storeu_ps)

#define CHANNEL_CASES(BLOCK, V)                                                                                \
    case V * 8 + 1: if (V <= widest) BLOCK(g, q, p0, o0, 1, V); break;                                         \
    case V * 8 + 2: if (V <= widest) BLOCK(g, q, p0, o0, 2, V); break;                                         \
    case V * 8 + 3: if (V <= widest) BLOCK(g, q, p0, o0, 3, V); break;                                         \
    case V * 8 + 4: if (V <= widest) BLOCK(g, q, p0, o0, 4, V); break;                                         \
    case V * 8 + 5: if (V <= widest && 5 <= positions) BLOCK(g, q, p0, o0, 5, V); break;                       \
    case V * 8 + 6: if (V <= widest && 6 <= positions) BLOCK(g, q, p0, o0, 6, V); break;

/* Every real output position of one phase (rows × cols, starting at column col_begin of the planes' rows):
   blocks of POSITIONS positions × WIDEST vectors of channels. AVX2's 16 registers: 6 × 2 accumulators, two
   weight vectors and the broadcast input (4 × 2 measured 6-20 % slower on an AMD EPYC without AVX-512: per tap
   8 multiply-adds against 6 loads and broadcasts, where 6 × 2 has 12 against 8).
   The taps go in tiles of equal length whose packed weights for one block of channels take at most 16 KB (256
   taps for AVX2's 16 channels, 64 for AVX-512's 64; 288 taps go in two of 144, not 256 and 32): every block of
   positions and channels runs over one tile, its sums kept in the buffer between tiles, so the tile's weights
   and the planes it reads stay in the first-level cache instead of coming from the second level for each
   block of positions. The sums are stored and loaded unchanged between tiles: same products, same order, same
   bits. AMD EPYC (Zen 3) without AVX-512, one thread, GFLOP/s, as SwiftPM compiles this file: the critic's
   64 → 128 forward 55 → 69-71 and 128 → 256 48 → 70-71, the input gradient of 128 → 256 54 → 72, the
   benchmark CNN's second layer forward 60-64 → 74-75 and input gradient 74 → 79-81 (equal tiles; tiles of 4, 8
   and 32 KB measured 64, 67 and 64 on the 128 → 256 forward). Each tile's geometry is a copy of the phase's,
   so the block's tap loop is the same as without tiles: with the tile's bounds as extra arguments the
   compiler kept accumulators on the stack at -fno-omit-frame-pointer (39). Not measured on an AVX-512 CPU. */
#define CHANNEL_TILE_BYTES 16384
#define TAPS_PER_TILE(CHANNELS) (CHANNEL_TILE_BYTES / (4 * (CHANNELS)))

#define CHANNEL_PHASE(NAME, BLOCK, TARGET, LANES, WIDEST, POSITIONS)                                           \
    __attribute__((target(TARGET))) static void NAME(const ChannelGeometry *taps, long rows, long cols,        \
                                                      long plane_width, long col_begin) {                      \
        const int widest = WIDEST, positions = POSITIONS; /* keeps the larger cases from being compiled */     \
        const long count = rows * cols, most = TAPS_PER_TILE(WIDEST * LANES);                                  \
        const long tiles = ceiling_division(taps->taps, most);                                                 \
        const long tile = tiles > 1 ? ceiling_division(taps->taps, tiles) : most;                              \
        for (long t0 = 0; t0 == 0 || t0 < taps->taps; t0 += tile) { /* once with no taps: the bias */         \
            ChannelGeometry part = *taps, *g = &part;                                                          \
            part.packed += t0 * part.stride, part.offsets += t0, part.accumulate = t0 > 0;                     \
            part.taps = t0 + tile < taps->taps ? tile : taps->taps - t0;                                       \
            for (long o0 = 0; o0 < g->stride; o0 += WIDEST * LANES) {                                          \
                const long vectors = (g->stride - o0) / LANES < WIDEST ? (g->stride - o0) / LANES : WIDEST;    \
                for (long p0 = 0; p0 < count; p0 += POSITIONS) {                                               \
                    const int P = (int)(count - p0 < POSITIONS ? count - p0 : POSITIONS);                      \
                    long q[6];                                                                                 \
                    for (int p = 0; p < P; p++)                                                                \
                        q[p] = (p0 + p) / cols * plane_width + col_begin + (p0 + p) % cols;                    \
                    switch (vectors * 8 + P) {                                                                 \
                    CHANNEL_CASES(BLOCK, 1)                                                                    \
                    CHANNEL_CASES(BLOCK, 2)                                                                    \
                    CHANNEL_CASES(BLOCK, 3)                                                                    \
                    CHANNEL_CASES(BLOCK, 4)                                                                    \
                    default: break;                                                                            \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }

CHANNEL_PHASE(channel_phase_avx512, channel_block_avx512, "avx512f", 16, AVX512_CHANNEL_WIDEST, 6)
CHANNEL_PHASE(channel_phase_emulated512, channel_block_emulated512, "avx2,fma", 16, AVX512_CHANNEL_WIDEST, 6)
CHANNEL_PHASE(channel_phase_avx2, channel_block_avx2, "avx2,fma", 8, 2, 6)

static long floor_division(long a, long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static void finish_phase(Plan *plan, Phase *phase, long max_offset) {
    const long step = plan->lanes > 1 ? plan->lanes : 1;
    phase->flat_length = ceiling_division(phase->rows * plan->plane_width, step) * step;
    if (phase->flat_length > plan->flat_capacity) plan->flat_capacity = phase->flat_length;
    /* The last float a vector of this phase reads, past the planes: the slack, zeroed too. */
    const long end = phase->row_begin * plan->plane_width + max_offset + phase->flat_length;
    const long past = end - plan->plane_count * plan->plane_height * plan->plane_width;
    if (past > plan->slack) plan->slack = past;
}

/* The plan's phases and tap offsets (offsets NULL: the phases only), and with `packed` the weights packed
   [tap][weight_stride]. Taps are in the order (c, i, j) for the forward pass and phase by phase for the
   transposed one, each phase's taps starting at its offsets_at. */
static void plan_taps(Plan *plan, const LucernaConvolution *shape, int transposed, const float *weight, long *offsets,
                      float *packed) {
    const LucernaConvolution s = *shape;
    const long plane_size = plan->plane_height * plan->plane_width, width = plan->plane_width;
    const long P = plan->weight_stride;
    if (!transposed) {
        Phase *phase = &plan->phases[0];
        long t = 0, max_offset = 0;
        for (long c = 0; c < s.channels; c++)
            for (long i = 0; i < s.kernel_h; i++)
                for (long j = 0; j < s.kernel_w; j++, t++) {
                    const long row = s.dilation_h * i, column = s.dilation_w * j;
                    const long plane = (c * s.stride_h + row % s.stride_h) * s.stride_w + column % s.stride_w;
                    const long offset = plane * plane_size + row / s.stride_h * width + column / s.stride_w;
                    if (offsets) offsets[t] = offset;
                    if (offset > max_offset) max_offset = offset;
                    for (long o = 0; packed && weight && o < s.outputs; o++)
                        packed[t * P + o] = weight[((o * s.channels + c) * s.kernel_h + i) * s.kernel_w + j];
                }
        *phase = (Phase){.taps = t, .rows = plan->out_height, .cols = plan->out_width, .row_step = 1,
                         .col_step = 1};
        finish_phase(plan, phase, max_offset);
        return;
    }
    long t = 0;
    for (long r = 0; r < s.stride_h; r++)
        for (long q = 0; q < s.stride_w; q++) {
            Phase *phase = &plan->phases[r * s.stride_w + q];
            const long taps_h = r < s.kernel_h ? ceiling_division(s.kernel_h - r, s.stride_h) : 0;
            const long taps_w = q < s.kernel_w ? ceiling_division(s.kernel_w - q, s.stride_w) : 0;
            /* Output row i = stride m + r - pad for m in [first, last]. */
            const long first_m = r <= s.pad_h ? ceiling_division(s.pad_h - r, s.stride_h) : 0;
            const long last_m = floor_division(s.height - 1 + s.pad_h - r, s.stride_h);
            const long first_n = q <= s.pad_w ? ceiling_division(s.pad_w - q, s.stride_w) : 0;
            const long last_n = floor_division(s.width - 1 + s.pad_w - q, s.stride_w);
            *phase = (Phase){.taps = taps_h * taps_w * s.outputs, .offsets_at = t, .row_begin = first_m,
                             .rows = last_m >= first_m ? last_m - first_m + 1 : 0, .col_begin = first_n,
                             .cols = last_n >= first_n ? last_n - first_n + 1 : 0,
                             .out_row = s.stride_h * first_m + r - s.pad_h,
                             .out_col = s.stride_w * first_n + q - s.pad_w, .row_step = s.stride_h,
                             .col_step = s.stride_w};
            long max_offset = 0;
            for (long o = 0; o < s.outputs; o++)
                for (long a = taps_h - 1; a >= 0; a--)
                    for (long b = taps_w - 1; b >= 0; b--, t++) {
                        const long offset = o * plane_size + (plan->top - a) * width + (plan->left - b);
                        if (offsets) offsets[t] = offset;
                        if (offset > max_offset) max_offset = offset;
                        const long i = r + s.stride_h * a, j = q + s.stride_w * b;
                        for (long c = 0; packed && weight && c < s.channels; c++)
                            packed[t * P + c] = weight[((o * s.channels + c) * s.kernel_h + i) * s.kernel_w + j];
                    }
            if (phase->rows > 0 && phase->cols > 0) finish_phase(plan, phase, max_offset);
        }
}

/* Multiply-adds per sample of each mode: positions in vectors (every flat position of a phase, four output
   channels at a time) or output channels in vectors (every real output position, channels rounded up to whole
   vectors). */
static long position_cost(const Plan *plan) {
    long cost = 0;
    for (long p = 0; p < plan->phase_count; p++)
        if (plan->phases[p].rows > 0 && plan->phases[p].cols > 0)
            cost += plan->phases[p].taps * plan->padded_outputs * plan->phases[p].flat_length;
    return cost;
}

static long channel_cost(const Plan *plan) {
    const long channels = ceiling_division(plan->out_channels, plan->lanes) * plan->lanes;
    long cost = 0;
    for (long p = 0; p < plan->phase_count; p++)
        cost += plan->phases[p].taps * channels * plan->phases[p].rows * plan->phases[p].cols;
    return cost;
}

long lucerna_conv2d_plan(const LucernaConvolution *shape, int transposed, const float *weight, const float *bias,
                         void *memory) {
    const LucernaConvolution s = *shape;
    const long lanes = lucerna_conv2d_direct_lanes();
    if (s.stride_h < 1 || s.stride_w < 1 || s.stride_h > LUCERNA_CONV2D_MAX_STRIDE ||
        s.stride_w > LUCERNA_CONV2D_MAX_STRIDE || s.dilation_h < 1 || s.dilation_w < 1 || s.kernel_h < 1 ||
        s.kernel_w < 1 || s.pad_h < 0 || s.pad_w < 0 || s.channels < 1 || s.outputs < 1 || lanes == 0)
        return 0;
    if (transposed && (s.dilation_h != 1 || s.dilation_w != 1)) return 0;
    const long padded_h = s.height + 2 * s.pad_h, padded_w = s.width + 2 * s.pad_w;
    const long span_h = s.dilation_h * (s.kernel_h - 1) + 1, span_w = s.dilation_w * (s.kernel_w - 1) + 1;
    if (padded_h < span_h || padded_w < span_w) return 0;
    const long output_h = (padded_h - span_h) / s.stride_h + 1, output_w = (padded_w - span_w) / s.stride_w + 1;
    /* Taps: input channels × kernel, the input being the image (forward) or the output gradient (transposed). */
    const long taps = (transposed ? s.outputs : s.channels) * s.kernel_h * s.kernel_w;

    Plan header;
    memset(&header, 0, sizeof header);
    Plan *plan = memory ? (Plan *)memory : &header;
    if (memory) memset(plan, 0, sizeof(Plan));
    plan->lanes = lanes;
    plan->emulated = lanes == 16 && emulated_avx512;
    plan->has_bias = bias != NULL;
    if (!transposed) {
        plan->in_channels = s.channels, plan->in_height = s.height, plan->in_width = s.width;
        plan->out_channels = s.outputs, plan->out_height = output_h, plan->out_width = output_w;
        plan->split_h = s.stride_h, plan->split_w = s.stride_w, plan->top = s.pad_h, plan->left = s.pad_w;
        plan->plane_height = ceiling_division(padded_h, s.stride_h);
        plan->plane_width = ceiling_division(padded_w, s.stride_w);
        plan->plane_count = s.channels * s.stride_h * s.stride_w;
        plan->phase_count = 1;
    } else {
        const long reach_h = ceiling_division(s.kernel_h, s.stride_h) - 1;
        const long reach_w = ceiling_division(s.kernel_w, s.stride_w) - 1;
        plan->in_channels = s.outputs, plan->in_height = output_h, plan->in_width = output_w;
        plan->out_channels = s.channels, plan->out_height = s.height, plan->out_width = s.width;
        plan->split_h = 1, plan->split_w = 1, plan->top = reach_h, plan->left = reach_w;
        /* Row m of phase r reads plane rows m + reach - a; the last row is (height - 1 + pad - r) / stride. */
        plan->plane_height = floor_division(s.height - 1 + s.pad_h, s.stride_h) + reach_h + 1;
        plan->plane_width = floor_division(s.width - 1 + s.pad_w, s.stride_w) + reach_w + 1;
        plan->plane_count = s.outputs;
        plan->phase_count = s.stride_h * s.stride_w;
    }
    plan->offsets_count = taps; /* every tap belongs to exactly one phase */
    plan->padded_outputs = ceiling_division(plan->out_channels, OUTPUTS_PER_BLOCK) * OUTPUTS_PER_BLOCK;
    plan_taps(plan, &s, transposed, NULL, NULL, NULL);
    /* Vectors over output channels when they waste fewer multiply-adds than vectors over the planes' width
       (whose columns past the output and rounding of each phase to whole vectors are computed and dropped) and
       a phase has at least 64 taps on average: with fewer, each block's set-up and the transposition of its
       sums weigh on too few products (scripts/bench/convolution_kernels.c: the benchmark CNN's first
       convolution, 9 taps, 31 against 42 GFLOP/s; the critic's first, 32 taps, 57 against 63). */
    if (lanes > 1)
        plan->channel_vectors = forced_channel_vectors >= 0
                                    ? forced_channel_vectors
                                    : taps >= 64 * plan->phase_count && channel_cost(plan) < position_cost(plan);
    plan->weight_stride = plan->channel_vectors ? ceiling_division(plan->out_channels, lanes) * lanes
                                                : plan->padded_outputs;
    if (plan->channel_vectors)
        for (long p = 0; p < plan->phase_count; p++) {
            const long buffer = plan->phases[p].rows * plan->phases[p].cols * plan->weight_stride;
            if (buffer > plan->padded_outputs * plan->flat_capacity)
                plan->flat_capacity = ceiling_division(buffer, plan->padded_outputs);
        }
    /* The weight gradient of a stride-1 convolution with fewer than 64 taps puts its vectors over output
       positions (see weight_positions_run): no transposed copy of the output gradient, which with so few taps
       per channel cost more than the products (the benchmark CNN's first layer: im2col + SGEMM 23 GFLOP/s,
       vectors over channels 45). */
    plan->weight_positions = !transposed && plan->split_h == 1 && plan->split_w == 1 && taps < 64;
    /* A forward pass with vectors over positions, stride 1, fewer than 64 taps, whole vectors of positions and
       whole blocks of channels runs over shifted planes (see Shifted), its blocks storing straight into the
       output: no columns computed past the output's width, no copy of the output rows. */
    plan->shifted_forward = !transposed && plan->split_h == 1 && plan->split_w == 1 && taps < 64 && lanes > 1 &&
                            !plan->channel_vectors && output_h * output_w % lanes == 0 &&
                            s.outputs % OUTPUTS_PER_BLOCK == 0;
    plan->packed_count = taps * plan->weight_stride;
    const long bytes = packed_at(plan) + (plan->packed_count + plan->weight_stride) * (long)sizeof(float);
    if (!memory) return bytes;

    float *packed = plan_packed(plan);
    memset(packed, 0, sizeof(float) * (size_t)(plan->packed_count + plan->weight_stride));
    if (bias) memcpy(plan_bias(plan), bias, sizeof(float) * (size_t)plan->out_channels);
    plan_taps(plan, &s, transposed, weight, plan_offsets(plan), packed);
    return bytes;
}

long lucerna_conv2d_plan_scratch(const void *memory) {
    const Plan *plan = memory;
    return plan->plane_count * plan->plane_height * plan->plane_width + plan->slack +
           (plan->shifted_forward ? plan->phases[0].taps * plan->plane_height * plan->out_width
                                  : plan->padded_outputs * plan->flat_capacity);
}

int lucerna_conv2d_plan_channel_vectors(const void *memory) { return ((const Plan *)memory)->channel_vectors != 0; }

long lucerna_conv2d_plan_cost(const void *memory) {
    const Plan *plan = memory;
    return plan->channel_vectors ? channel_cost(plan) : position_cost(plan);
}

static void fill_planes(const Plan *plan, const float *sample, float *planes) {
    const long plane_size = plan->plane_height * plan->plane_width;
    for (long c = 0; c < plan->in_channels; c++)
        for (long h = 0; h < plan->in_height; h++) {
            const long row = h + plan->top, u = row / plan->split_h;
            if (u >= plan->plane_height) break;
            const float *source = sample + (c * plan->in_height + h) * plan->in_width;
            const long first_plane = (c * plan->split_h + row % plan->split_h) * plan->split_w;
            if (plan->split_w == 1) {
                long n = plan->plane_width - plan->left;
                if (n > plan->in_width) n = plan->in_width;
                if (n > 0)
                    memcpy(planes + first_plane * plane_size + u * plan->plane_width + plan->left, source,
                           sizeof(float) * (size_t)n);
            } else {
                /* Column phase by column phase, so the inner loop is a strided copy with no division: input
                   columns first, first + s, ... go to plane columns v0, v0 + 1, ... of phase (first + left) mod s. */
                const long s = plan->split_w;
                for (long first = 0; first < s && first < plan->in_width; first++) {
                    const long column = first + plan->left;
                    float *target = planes + (first_plane + column % s) * plane_size + u * plan->plane_width;
                    for (long w = first, v = column / s; w < plan->in_width && v < plan->plane_width; w += s, v++)
                        target[v] = source[w];
                }
            }
        }
}

/* Shifted planes, for a stride-1 forward plan with fewer than 64 taps. Tap (c, i, j) reads, at flat output
   position p = m * out_width + w, the padded input at row m + d_h i and column w + d_w j: with a copy of channel
   c's padded plane shifted left by d_w j columns and cut to out_width columns (one copy per distinct (c, j)),
   that is the contiguous run from p + d_h i * out_width. So positions are the output's own, with no columns
   past its width, and a sample's output gradient or output is read or written in place. */
typedef struct {
    long distinct, sources[64]; /* the planes' offset of each copy's first column, (c, d_w j) */
    long offsets[64];           /* each tap's first input in the copies */
} Shifted;

static void plan_shifted(const Plan *plan, Shifted *shifted) {
    const long plane_size = plan->plane_height * plan->plane_width, width = plan->out_width;
    const long *offsets = plan_offsets(plan);
    shifted->distinct = 0;
    for (long t = 0; t < plan->phases[0].taps; t++) {
        const long within = offsets[t] % plane_size;
        const long key = offsets[t] - within + within % plan->plane_width;
        long k = 0;
        while (k < shifted->distinct && shifted->sources[k] != key) k++;
        if (k == shifted->distinct) shifted->sources[shifted->distinct++] = key;
        shifted->offsets[t] = (k * plan->plane_height + within / plan->plane_width) * width;
    }
}

static void fill_shifted(const Plan *plan, const Shifted *shifted, const float *planes, float *copies) {
    const long width = plan->out_width;
    for (long k = 0; k < shifted->distinct; k++)
        for (long u = 0; u < plan->plane_height; u++)
            memcpy(copies + (k * plan->plane_height + u) * width, planes + shifted->sources[k] + u * plan->plane_width,
                   sizeof(float) * (size_t)width);
}

/* dst[j * dst_stride + i] = src[i * src_stride + j] for an 8 × 8 block (data movement only: the same bits). */
__attribute__((target("avx2"))) static void transpose_8x8_avx2(const float *src, long src_stride, float *dst,
                                                                long dst_stride) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * src_stride);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

void lucerna_conv2d_plan_run(const void *memory, const float *input, long count, float *output, float *scratch) {
    const Plan *plan = memory;
    const long plane_size = plan->plane_height * plan->plane_width;
    const long planes_length = plan->plane_count * plane_size + plan->slack;
    float *planes = scratch, *flat = scratch + planes_length;
    const long *offsets = plan_offsets(plan);
    const float *packed = plan_packed(plan), *bias = plan->has_bias ? plan_bias(plan) : NULL;
    const long in_size = plan->in_channels * plan->in_height * plan->in_width;
    const long out_size = plan->out_channels * plan->out_height * plan->out_width;
    const long stride = plan->weight_stride;
    memset(planes, 0, sizeof(float) * (size_t)planes_length);
    if (plan->shifted_forward) {
        Shifted shifted;
        plan_shifted(plan, &shifted);
        for (long n = 0; n < count; n++) {
            fill_planes(plan, input + n * in_size, planes);
            fill_shifted(plan, &shifted, planes, flat);
            /* The output's planes are the blocks' flat rows: out_channels rows of whole vectors of positions. */
            const Geometry g = {flat,   packed, bias, shifted.offsets, plan->phases[0].taps, stride,
                                plan->out_height * plan->out_width, output + n * out_size};
            if (plan->emulated) phase_emulated512(&g);
            else if (plan->lanes == 16) phase_avx512(&g);
            else phase_avx2(&g);
        }
        return;
    }
    for (long n = 0; n < count; n++) {
        fill_planes(plan, input + n * in_size, planes);
        float *destination = output + n * out_size;
        for (long p = 0; p < plan->phase_count; p++) {
            const Phase *phase = &plan->phases[p];
            if (phase->rows == 0 || phase->cols == 0) continue;
            const float *phase_planes = planes + phase->row_begin * plan->plane_width;
            const float *phase_packed = packed + phase->offsets_at * stride;
            if (plan->channel_vectors) {
                const ChannelGeometry g = {phase_planes, phase_packed, bias, offsets + phase->offsets_at,
                                           phase->taps,  stride,       flat};
                if (plan->emulated)
                    channel_phase_emulated512(&g, phase->rows, phase->cols, plan->plane_width, phase->col_begin);
                else if (plan->lanes == 16)
                    channel_phase_avx512(&g, phase->rows, phase->cols, plan->plane_width, phase->col_begin);
                else channel_phase_avx2(&g, phase->rows, phase->cols, plan->plane_width, phase->col_begin);
                /* buffer[position][channel] to the output's planes, eight channels at a time. */
                const long plane = plan->out_height * plan->out_width;
                /* Whole output rows one after another (every forward plan, and the stride-1 transposed one): the
                   positions are contiguous on both sides, so 8 × 8 blocks. A transposed phase of a larger stride
                   writes every stride-th position, one at a time. */
                const int contiguous = phase->col_step == 1 && phase->row_step == 1 && phase->out_col == 0 &&
                                       phase->cols == plan->out_width;
                for (long o0 = 0; o0 < plan->out_channels; o0 += 8) {
                    const long o1 = o0 + 8 < plan->out_channels ? o0 + 8 : plan->out_channels;
                    if (contiguous && o1 - o0 == 8) {
                        const long positions = phase->rows * phase->cols;
                        float *first = destination + o0 * plane + phase->out_row * plan->out_width;
                        long index = 0;
                        for (; index + 8 <= positions; index += 8)
                            transpose_8x8_avx2(flat + index * stride + o0, stride, first + index, plane);
                        for (; index < positions; index++)
                            for (long o = o0; o < o1; o++) first[(o - o0) * plane + index] = flat[index * stride + o];
                        continue;
                    }
                    for (long r = 0, index = 0; r < phase->rows; r++) {
                        const long row = (phase->out_row + r * phase->row_step) * plan->out_width + phase->out_col;
                        for (long k = 0; k < phase->cols; k++, index++)
                            for (long o = o0; o < o1; o++)
                                destination[o * plane + row + k * phase->col_step] =
                                    flat[index * stride + o];
                    }
                }
                continue;
            }
            Geometry g = {phase_planes, phase_packed, bias, offsets + phase->offsets_at, phase->taps,
                          stride,       phase->flat_length, flat};
            if (plan->emulated) phase_emulated512(&g);
            else if (plan->lanes == 16) phase_avx512(&g);
            else if (plan->lanes == 8) phase_avx2(&g);
            else
                for (long o0 = 0; o0 < plan->padded_outputs; o0 += OUTPUTS_PER_BLOCK)
                    block_scalar(&g, o0, 0, phase->rows * plan->plane_width);
            for (long o = 0; o < plan->out_channels; o++)
                for (long r = 0; r < phase->rows; r++) {
                    const float *source = flat + o * phase->flat_length + r * plan->plane_width + phase->col_begin;
                    float *row = destination + (o * plan->out_height + phase->out_row + r * phase->row_step) *
                                                   plan->out_width + phase->out_col;
                    if (phase->col_step == 1) memcpy(row, source, sizeof(float) * (size_t)phase->cols);
                    else
                        for (long k = 0; k < phase->cols; k++) row[k * phase->col_step] = source[k];
                }
        }
    }
}

/* The weight gradient of a forward plan: partial[t][o] += Σ_n Σ_(m, w) dy[n][o][m][w] · planes_n[offsets[t] +
   m · plane_width + w], tap t's input at output position (m, w), as the forward pass reads it. Vectors run over
   output channels: each sample's output gradient is first transposed to [position][padded channels], and a
   block holds TAPS_PER_BLOCK taps × up to four vectors of channels in registers over every position of the
   sample, one fused multiply-add per (position, tap, channel) in position order. Each sum thus adds its
   products in the order of samples and positions whatever the vector width, so the AVX-512, AVX2 and scalar
   bodies agree bit for bit. Only real output positions are visited (no work on the planes' padding). */
#define TAPS_PER_BLOCK 6

/* Vectors over positions (plan->weight_positions): partial[t][o][lane] holds eight sums per (tap, channel), lane
   k adding the products at positions k, k + 8, ... of each sample (a short last vector adds fma(0, 0, sum)), and
   lucerna_conv2d_weight_finish adds the eight lanes in a fixed order. Channels in blocks of four. */
#define POSITION_LANES 8
#define POSITION_TAPS 3
#define POSITION_OUTPUTS 4

static long weight_channels(const Plan *plan) {
    const long lanes = plan->weight_positions ? POSITION_OUTPUTS : plan->lanes > 1 ? plan->lanes : 1;
    return ceiling_division(plan->out_channels, lanes) * lanes;
}

/* The partial: [taps + 1][channels][lanes], the last row the bias's sums. */
long lucerna_conv2d_weight_size(const void *memory) {
    const Plan *plan = memory;
    return (plan->phases[0].taps + 1) * weight_channels(plan) * (plan->weight_positions ? POSITION_LANES : 1);
}

long lucerna_conv2d_weight_scratch(const void *memory) {
    const Plan *plan = memory;
    const long planes = plan->plane_count * plan->plane_height * plan->plane_width + plan->slack;
    if (plan->weight_positions) /* at most one shifted plane per tap */
        return planes + plan->phases[0].taps * plan->plane_height * plan->out_width;
    return planes + plan->out_height * plan->out_width * weight_channels(plan);
}

static float finished(const Plan *plan, const float *partial, long row, long o) {
    const long channels = weight_channels(plan);
    if (!plan->weight_positions) return partial[row * channels + o];
    const float *l = partial + (row * channels + o) * POSITION_LANES;
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

void lucerna_conv2d_weight_finish(const void *memory, const float *partial, float *weight_gradient,
                                  float *bias_gradient) {
    const Plan *plan = memory;
    const long taps = plan->phases[0].taps;
    for (long o = 0; o < plan->out_channels; o++) {
        for (long t = 0; t < taps; t++) weight_gradient[o * taps + t] = finished(plan, partial, t, o);
        if (bias_gradient) bias_gradient[o] = finished(plan, partial, taps, o);
    }
}

typedef struct {
    const float *planes, *transposed; /* the sample's planes; its output gradient [position][channels] */
    const long *offsets;
    long channels, out_height, out_width, plane_width; /* channels: padded, the row length of transposed */
    float *partial;                                    /* [taps][channels] */
} WeightGeometry;

static void weight_block_scalar(const WeightGeometry *g, long t0, long taps, long o0, long count) {
    for (long t = t0; t < t0 + taps; t++)
        for (long o = o0; o < o0 + count; o++) {
            float acc = g->partial[t * g->channels + o];
            const float *x = g->planes + g->offsets[t];
            for (long m = 0; m < g->out_height; m++)
                for (long w = 0; w < g->out_width; w++)
                    acc = fmaf(g->transposed[(m * g->out_width + w) * g->channels + o], x[m * g->plane_width + w],
                               acc);
            g->partial[t * g->channels + o] = acc;
        }
}

#define WEIGHT_BLOCK(NAME, TARGET, VEC, LANES, LOAD, SET1, FMA, STORE)                                           \
    __attribute__((target(TARGET), always_inline)) static inline void NAME(const WeightGeometry *g, long t0,     \
                                                                          long o0, const int T, const int V) {  \
        VEC acc[TAPS_PER_BLOCK][4];                                                                            \
        const float *x[TAPS_PER_BLOCK];                                                                        \
        for (int t = 0; t < T; t++) {                                                                          \
            x[t] = g->planes + g->offsets[t0 + t];                                                             \
            for (int v = 0; v < V; v++) acc[t][v] = LOAD(g->partial + (t0 + t) * g->channels + o0 + v * LANES); \
        }                                                                                                      \
        for (long m = 0; m < g->out_height; m++) {                                                             \
            const float *dy = g->transposed + m * g->out_width * g->channels + o0;                             \
            const long row = m * g->plane_width;                                                               \
            for (long w = 0; w < g->out_width; w++, dy += g->channels) {                                       \
                VEC d[4];                                                                                      \
                for (int v = 0; v < V; v++) d[v] = LOAD(dy + v * LANES);                                       \
                for (int t = 0; t < T; t++) {                                                                  \
                    const VEC value = SET1(x[t][row + w]);                                                     \
                    for (int v = 0; v < V; v++) acc[t][v] = FMA(d[v], value, acc[t][v]);                       \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        for (int t = 0; t < T; t++)                                                                            \
            for (int v = 0; v < V; v++) STORE(g->partial + (t0 + t) * g->channels + o0 + v * LANES, acc[t][v]); \
    }

WEIGHT_BLOCK(weight_block_avx512, "avx512f", __m512, 16, _mm512_loadu_ps, _mm512_set1_ps, _mm512_fmadd_ps,
             _mm512_storeu_ps)
WEIGHT_BLOCK(weight_block_emulated512, "avx2,fma", Emulated512, 16, emulated_load, emulated_set1, emulated_fma,
             emulated_store)
WEIGHT_BLOCK(weight_block_avx2, "avx2,fma", __m256, 8, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps,
             _mm256_storeu_ps)

#define WEIGHT_CASES(BLOCK, V)                                                                                 \
    case V * 8 + 1: if (V <= widest) BLOCK(g, t0, o0, 1, V); break;                                                             \
    case V * 8 + 2: if (V <= widest) BLOCK(g, t0, o0, 2, V); break;                                                             \
    case V * 8 + 3: if (V <= widest) BLOCK(g, t0, o0, 3, V); break;                                                             \
    case V * 8 + 4: if (V <= widest) BLOCK(g, t0, o0, 4, V); break;                                                             \
    case V * 8 + 5: if (V <= widest) BLOCK(g, t0, o0, 5, V); break;                                                             \
    case V * 8 + 6: if (V <= widest) BLOCK(g, t0, o0, 6, V); break;

/* Every (tap, channel) sum of one sample: blocks of up to TAPS_PER_BLOCK taps × up to WIDEST vectors of
   channels, each block shape its own specialisation so the accumulators stay in registers. */
#define WEIGHT_SAMPLE(NAME, BLOCK, TARGET, LANES, WIDEST)                                                      \
    __attribute__((target(TARGET))) static void NAME(const WeightGeometry *g, long taps) {                    \
        const int widest = WIDEST; /* wider cases are never taken; this keeps them from being compiled */      \
        for (long o0 = 0; o0 < g->channels; o0 += WIDEST * LANES) {                                            \
            const long vectors = (g->channels - o0) / LANES < WIDEST ? (g->channels - o0) / LANES : WIDEST;    \
            for (long t0 = 0; t0 < taps; t0 += TAPS_PER_BLOCK) {                                               \
                const int T = (int)(taps - t0 < TAPS_PER_BLOCK ? taps - t0 : TAPS_PER_BLOCK);                  \
                switch (vectors * 8 + T) {                                                                     \
                WEIGHT_CASES(BLOCK, 1)                                                                         \
                WEIGHT_CASES(BLOCK, 2)                                                                         \
                WEIGHT_CASES(BLOCK, 3)                                                                         \
                WEIGHT_CASES(BLOCK, 4)                                                                         \
                default: break;                                                                                \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }

WEIGHT_SAMPLE(weight_sample_avx512, weight_block_avx512, "avx512f", 16, AVX512_WEIGHT_WIDEST)
WEIGHT_SAMPLE(weight_sample_emulated512, weight_block_emulated512, "avx2,fma", 16, AVX512_WEIGHT_WIDEST)
WEIGHT_SAMPLE(weight_sample_avx2, weight_block_avx2, "avx2,fma", 8, 2)

/* transposed[p][o] = dy[o][p], eight channels at a time: eight sequential read streams (the output gradient
   usually comes from memory, written by the previous operation), and each position's eight values written
   together into the transposed block, which stays in cache. (A plain channel-by-channel loop strides its
   writes through one set of the cache; 8 × 8 blocks over positions first read 64 streams at once.) */
static void transpose_gradient(const float *dy, long outputs, long positions, float *transposed, long channels,
                               int vectors) {
    for (long o0 = 0; o0 < outputs; o0 += 8) {
        const long o1 = o0 + 8 < outputs ? o0 + 8 : outputs;
        long p = 0;
        if (vectors && o1 - o0 == 8)
            for (; p + 8 <= positions; p += 8)
                transpose_8x8_avx2(dy + o0 * positions + p, positions, transposed + p * channels + o0, channels);
        for (; p < positions; p++)
            for (long o = o0; o < o1; o++) transposed[p * channels + o] = dy[o * positions + p];
    }
}

/* The weight gradient with vectors over positions, for stride 1 and few taps, over shifted planes (see Shifted):
   the output gradient is read in place, in its NCHW rows, and a block keeps POSITION_TAPS taps ×
   POSITION_OUTPUTS channels of eight-lane sums in registers over every position of the sample (3 input and 4
   gradient vectors loaded for 12 multiply-adds). */
typedef struct {
    const float *taps[64]; /* each tap's run in the shifted planes */
    const float *gradient; /* the sample's output gradient [channels][positions] */
    long positions, channels, out_channels;
    float *partial; /* [taps][channels][POSITION_LANES] */
} PositionGeometry;

static void position_block_scalar(const PositionGeometry *g, long t0, long o0, int T, int O) {
    const long padded = ceiling_division(g->positions, POSITION_LANES) * POSITION_LANES;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < O; o++) {
            float *sums = g->partial + ((t0 + t) * g->channels + o0 + o) * POSITION_LANES;
            const float *x = g->taps[t0 + t], *dy = g->gradient + (o0 + o) * g->positions;
            for (long k = 0; k < POSITION_LANES; k++)
                for (long p = k; p < padded; p += POSITION_LANES)
                    sums[k] = p < g->positions ? fmaf(x[p], dy[p], sums[k]) : fmaf(0.0f, 0.0f, sums[k]);
        }
}

__attribute__((target("avx2,fma"), always_inline)) static inline void position_block_avx2(const PositionGeometry *g,
                                                                                          long t0, long o0,
                                                                                          const int T, const int O) {
    __m256 acc[POSITION_TAPS][POSITION_OUTPUTS];
    const float *x[POSITION_TAPS], *dy[POSITION_OUTPUTS];
    for (int t = 0; t < T; t++) x[t] = g->taps[t0 + t];
    for (int o = 0; o < O; o++) dy[o] = g->gradient + (o0 + o) * g->positions;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < O; o++)
            acc[t][o] = _mm256_loadu_ps(g->partial + ((t0 + t) * g->channels + o0 + o) * POSITION_LANES);
    long p = 0;
    for (; p + POSITION_LANES <= g->positions; p += POSITION_LANES) {
        __m256 values[POSITION_TAPS];
        for (int t = 0; t < T; t++) values[t] = _mm256_loadu_ps(x[t] + p);
        for (int o = 0; o < O; o++) {
            const __m256 d = _mm256_loadu_ps(dy[o] + p);
            for (int t = 0; t < T; t++) acc[t][o] = _mm256_fmadd_ps(values[t], d, acc[t][o]);
        }
    }
    if (p < g->positions) { /* the lanes past the end load zeros */
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(g->positions - p)), lane);
        __m256 values[POSITION_TAPS];
        for (int t = 0; t < T; t++) values[t] = _mm256_maskload_ps(x[t] + p, mask);
        for (int o = 0; o < O; o++) {
            const __m256 d = _mm256_maskload_ps(dy[o] + p, mask);
            for (int t = 0; t < T; t++) acc[t][o] = _mm256_fmadd_ps(values[t], d, acc[t][o]);
        }
    }
    for (int t = 0; t < T; t++)
        for (int o = 0; o < O; o++)
            _mm256_storeu_ps(g->partial + ((t0 + t) * g->channels + o0 + o) * POSITION_LANES, acc[t][o]);
}

#define POSITION_CASES(T)                                                                                      \
    case T * 8 + 1: position_block_avx2(g, t0, o0, T, 1); break;                                               \
    case T * 8 + 2: position_block_avx2(g, t0, o0, T, 2); break;                                               \
    case T * 8 + 3: position_block_avx2(g, t0, o0, T, 3); break;                                               \
    case T * 8 + 4: position_block_avx2(g, t0, o0, T, 4); break;

__attribute__((target("avx2,fma"))) static void position_sample_avx2(const PositionGeometry *g, long taps) {
    for (long o0 = 0; o0 < g->out_channels; o0 += POSITION_OUTPUTS) {
        const int O = (int)(g->out_channels - o0 < POSITION_OUTPUTS ? g->out_channels - o0 : POSITION_OUTPUTS);
        for (long t0 = 0; t0 < taps; t0 += POSITION_TAPS) {
            const int T = (int)(taps - t0 < POSITION_TAPS ? taps - t0 : POSITION_TAPS);
            switch (T * 8 + O) {
            POSITION_CASES(1)
            POSITION_CASES(2)
            POSITION_CASES(3)
            default: break;
            }
        }
    }
}

/* The bias's sums, partial row `taps`: lane k adds the output gradient at positions k, k + 8, ... (a short last
   vector adds 0). */
static void position_bias_scalar(const PositionGeometry *g, long taps) {
    const long padded = ceiling_division(g->positions, POSITION_LANES) * POSITION_LANES;
    for (long o = 0; o < g->out_channels; o++) {
        float *sums = g->partial + (taps * g->channels + o) * POSITION_LANES;
        const float *dy = g->gradient + o * g->positions;
        for (long k = 0; k < POSITION_LANES; k++)
            for (long p = k; p < padded; p += POSITION_LANES) sums[k] += p < g->positions ? dy[p] : 0.0f;
    }
}

__attribute__((target("avx2,fma"))) static void position_bias_avx2(const PositionGeometry *g, long taps) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const long tail = g->positions % POSITION_LANES, whole = g->positions - tail;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)tail), lane);
    for (long o = 0; o < g->out_channels; o++) {
        float *sums = g->partial + (taps * g->channels + o) * POSITION_LANES;
        const float *dy = g->gradient + o * g->positions;
        __m256 acc = _mm256_loadu_ps(sums);
        for (long p = 0; p < whole; p += POSITION_LANES) acc = _mm256_add_ps(acc, _mm256_loadu_ps(dy + p));
        if (tail) acc = _mm256_add_ps(acc, _mm256_maskload_ps(dy + whole, mask));
        _mm256_storeu_ps(sums, acc);
    }
}

static void weight_positions_run(const Plan *plan, const float *input, const float *output_gradient, long count,
                                 float *partial, int bias, float *scratch) {
    const long planes_length = plan->plane_count * plan->plane_height * plan->plane_width + plan->slack;
    const long taps = plan->phases[0].taps, positions = plan->out_height * plan->out_width;
    const long in_size = plan->in_channels * plan->in_height * plan->in_width;
    float *planes = scratch, *copies = scratch + planes_length;
    Shifted shifted;
    plan_shifted(plan, &shifted);
    PositionGeometry g = {.positions = positions, .channels = weight_channels(plan),
                          .out_channels = plan->out_channels, .partial = partial};
    for (long t = 0; t < taps; t++) g.taps[t] = copies + shifted.offsets[t];
    memset(planes, 0, sizeof(float) * (size_t)planes_length);
    for (long n = 0; n < count; n++) {
        fill_planes(plan, input + n * in_size, planes);
        fill_shifted(plan, &shifted, planes, copies);
        g.gradient = output_gradient + n * plan->out_channels * positions;
        if (plan->lanes >= 8) {
            position_sample_avx2(&g, taps);
            if (bias) position_bias_avx2(&g, taps);
        } else {
            for (long o0 = 0; o0 < plan->out_channels; o0 += POSITION_OUTPUTS)
                for (long t0 = 0; t0 < taps; t0 += POSITION_TAPS)
                    position_block_scalar(&g, t0, o0,
                                          (int)(taps - t0 < POSITION_TAPS ? taps - t0 : POSITION_TAPS),
                                          (int)(plan->out_channels - o0 < POSITION_OUTPUTS ? plan->out_channels - o0
                                                                                           : POSITION_OUTPUTS));
            if (bias) position_bias_scalar(&g, taps);
        }
    }
}

void lucerna_conv2d_weight_run(const void *memory, const float *input, const float *output_gradient, long count,
                               float *partial, int bias, float *scratch) {
    const Plan *plan = memory;
    if (plan->weight_positions) {
        weight_positions_run(plan, input, output_gradient, count, partial, bias, scratch);
        return;
    }
    const long plane_size = plan->plane_height * plan->plane_width;
    const long planes_length = plan->plane_count * plane_size + plan->slack;
    const long channels = weight_channels(plan), positions = plan->out_height * plan->out_width;
    float *planes = scratch, *transposed = scratch + planes_length;
    const long in_size = plan->in_channels * plan->in_height * plan->in_width;
    const long out_size = plan->out_channels * positions;
    memset(planes, 0, sizeof(float) * (size_t)planes_length);
    /* The padded channels stay zero: their sums are never read. */
    memset(transposed, 0, sizeof(float) * (size_t)(positions * channels));
    const WeightGeometry g = {planes,          transposed,      plan_offsets(plan), channels,
                              plan->out_height, plan->out_width, plan->plane_width,  partial};
    for (long n = 0; n < count; n++) {
        fill_planes(plan, input + n * in_size, planes);
        transpose_gradient(output_gradient + n * out_size, plan->out_channels, positions, transposed, channels,
                           plan->lanes >= 8);
        if (bias) { /* the bias's sums, partial row `taps`: each channel's in position order */
            float *sums = partial + plan->phases[0].taps * channels;
            for (long p = 0; p < positions; p++)
                for (long o = 0; o < channels; o++) sums[o] += transposed[p * channels + o];
        }
        if (plan->emulated) weight_sample_emulated512(&g, plan->phases[0].taps);
        else if (plan->lanes == 16) weight_sample_avx512(&g, plan->phases[0].taps);
        else if (plan->lanes == 8) weight_sample_avx2(&g, plan->phases[0].taps);
        else weight_block_scalar(&g, 0, plan->phases[0].taps, 0, channels);
    }
}
