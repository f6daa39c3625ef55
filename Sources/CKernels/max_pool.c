#include "CKernels.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* 2×2, stride-2 max pooling of Float32 planes with even sides, with AVX2 (`CKernels.h`). Rows are output rows
   over all planes: output row r of the flat [planes × output_height] reads input rows 2r and 2r + 1. Each
   output's window code (one byte: 0 a, 1 b, 2 c, 3 d) is all the backward needs, an eighth of the traffic of the
   Int64 positions written before (the engine makes positions from the codes only for second-order gradients).
   Each output is max(max(a, b), max(c, d))
   of its window (a b / c d) with strict comparisons, so ties keep the first element in row-major order, as
   PyTorch and the exact loop do. Four outputs at a time (eight inputs of each row) at every width from 4; the
   last vector of a row overlaps the one before instead of a scalar tail. A second body with eight outputs in
   256-bit vectors (which need a lane permutation of values and positions) was dropped for one path: in perf
   profiles of cnn_train at one thread (AMD EPYC Zen 3, 2026-12-05, two runs each) its forward took 2.65 % of
   the samples against 2.93 % here, its backward 2.94-3.12 % against 2.86-3.09 %. */

static int has_avx2(void) { return __builtin_cpu_supports("avx2"); }

int lucerna_max_pool_2x2_available(void) { return has_avx2(); }

/* Four outputs of one output row from its two input rows (upper and lower at the first window's left column),
   written to values and codes (each maximum's place in its window: 0 top left, 1 top right, 2 bottom left, 3
   bottom right, one byte each). Returns the NaN mask. */
__attribute__((target("avx2"))) static inline __m128 forward4(const float *upper, const float *lower, float *values,
                                                               uint8_t *codes, int relu) {
    const __m128 u0 = _mm_loadu_ps(upper), u1 = _mm_loadu_ps(upper + 4);
    const __m128 l0 = _mm_loadu_ps(lower), l1 = _mm_loadu_ps(lower + 4);
    const __m128 a = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)), b = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m128 c = _mm_shuffle_ps(l0, l1, _MM_SHUFFLE(2, 0, 2, 0)), d = _mm_shuffle_ps(l0, l1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m128 take_b = _mm_cmpgt_ps(b, a), take_d = _mm_cmpgt_ps(d, c);
    const __m128 top = _mm_blendv_ps(a, b, take_b), bottom = _mm_blendv_ps(c, d, take_d);
    const __m128 take_lower = _mm_cmpgt_ps(bottom, top);
    const __m128 value = _mm_blendv_ps(top, bottom, take_lower);
    /* ReLU as x <= 0 ? 0 : x: kept where not (x <= 0), which also keeps a NaN (not that one gets here). */
    _mm_storeu_ps(values, relu ? _mm_and_ps(value, _mm_cmp_ps(value, _mm_setzero_ps(), _CMP_NLE_UQ)) : value);
    const __m128i upper_choice = _mm_srli_epi32(_mm_castps_si128(take_b), 31);
    const __m128i lower_choice = _mm_add_epi32(_mm_srli_epi32(_mm_castps_si128(take_d), 31), _mm_set1_epi32(2));
    const __m128i choice = _mm_blendv_epi8(upper_choice, lower_choice, _mm_castps_si128(take_lower));
    const __m128i bytes = _mm_packus_epi16(_mm_packus_epi32(choice, choice), _mm_setzero_si128());
    const int packed = _mm_cvtsi128_si32(bytes);
    memcpy(codes, &packed, 4);
    return _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d));
}

__attribute__((target("avx2"))) static int forward_avx2(const float *input, float *output, uint8_t *codes,
                                                         long first_row, long rows, long output_width, int relu) {
    const long width = 2 * output_width;
    __m128 unordered = _mm_setzero_ps();
    for (long row = first_row; row < first_row + rows; row++) {
        const float *upper = input + 2 * row * width;
        for (long column = 0; column < output_width; column += 4) {
            if (column > output_width - 4) column = output_width - 4;
            unordered = _mm_or_ps(unordered, forward4(upper + 2 * column, upper + width + 2 * column,
                                                      output + row * output_width + column,
                                                      codes + row * output_width + column, relu));
        }
    }
    return _mm_movemask_ps(unordered) == 0;
}

int lucerna_max_pool_2x2_f32(const float *input, float *output, uint8_t *codes, long first_row, long rows,
                             long output_width, int relu) {
    if (!has_avx2() || output_width < 4) return -1;
    return forward_avx2(input, output, codes, first_row, rows, output_width, relu);
}

__attribute__((target("avx2"))) static void backward_avx2(const float *gradient, const uint8_t *codes,
                                                           const float *active, float *input_gradient,
                                                           long first_row, long rows, long output_width) {
    const long width = 2 * output_width;
    for (long row = first_row; row < first_row + rows; row++) {
        const float *source = gradient + row * output_width;
        float *upper = input_gradient + 2 * row * width, *lower = upper + width;
        for (long column = 0; column < output_width; column += 4) {
            if (column > output_width - 4) column = output_width - 4;
            __m128 g = _mm_loadu_ps(source + column);
            if (active) /* the ReLU's backward: active > 0 ? g : 0 */
                g = _mm_and_ps(g, _mm_cmp_ps(_mm_loadu_ps(active + row * output_width + column), _mm_setzero_ps(),
                                             _CMP_GT_OQ));
            int packed;
            memcpy(&packed, codes + row * output_width + column, 4);
            const __m128i choice = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(packed));
            const __m128 a = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, _mm_setzero_si128())));
            const __m128 b = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, _mm_set1_epi32(1))));
            const __m128 c = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, _mm_set1_epi32(2))));
            const __m128 d = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, _mm_set1_epi32(3))));
            _mm_storeu_ps(upper + 2 * column, _mm_unpacklo_ps(a, b));
            _mm_storeu_ps(upper + 2 * column + 4, _mm_unpackhi_ps(a, b));
            _mm_storeu_ps(lower + 2 * column, _mm_unpacklo_ps(c, d));
            _mm_storeu_ps(lower + 2 * column + 4, _mm_unpackhi_ps(c, d));
        }
    }
}

int lucerna_max_pool_2x2_backward_f32(const float *gradient, const uint8_t *codes, const float *active,
                                      float *input_gradient, long first_row, long rows, long output_width) {
    if (!has_avx2() || output_width < 4) return 0;
    backward_avx2(gradient, codes, active, input_gradient, first_row, rows, output_width);
    return 1;
}
