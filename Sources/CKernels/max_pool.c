#include "CKernels.h"
#include <immintrin.h>
#include <stdint.h>

/* 2×2, stride-2 max pooling of Float32 planes with even sides, with AVX2 (`CKernels.h`). Rows are output rows
   over all planes: output row r of the flat [planes × output_height] reads input rows 2r and 2r + 1, and its
   positions are in-plane, (2 (r mod output_height)) width + column. Each output is max(max(a, b), max(c, d))
   of its window (a b / c d) with strict comparisons, so ties keep the first element in row-major order, as
   PyTorch and the exact loop do. Eight outputs at a time (sixteen inputs of each row), or four where an output
   row is 4 to 7 wide; the last vector of a row overlaps the one before instead of a scalar tail. */

static int has_avx2(void) { return __builtin_cpu_supports("avx2"); }

/* Lanes of a window result after the shuffles below: outputs 0, 1, 4, 5, 2, 3, 6, 7; this puts them in order. */
#define IN_ORDER _MM_SHUFFLE(3, 1, 2, 0)

__attribute__((target("avx2"))) static int forward_avx2(const float *input, float *output, int64_t *indices,
                                                         long first_row, long rows, long output_height,
                                                         long output_width) {
    const long width = 2 * output_width;
    const __m256i lanes8 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m128i lanes4 = _mm_setr_epi32(0, 2, 4, 6);
    __m256 unordered = _mm256_setzero_ps();
    __m128 unordered4 = _mm_setzero_ps();
    for (long row = first_row; row < first_row + rows; row++) {
        const float *upper = input + 2 * row * width, *lower = upper + width;
        float *values = output + row * output_width;
        int64_t *positions = indices + row * output_width;
        const int plane_row = (int)(2 * (row % output_height) * width);
        if (output_width >= 8) {
            for (long column = 0; column < output_width; column += 8) {
                if (column > output_width - 8) column = output_width - 8;
                const __m256 u0 = _mm256_loadu_ps(upper + 2 * column), u1 = _mm256_loadu_ps(upper + 2 * column + 8);
                const __m256 l0 = _mm256_loadu_ps(lower + 2 * column), l1 = _mm256_loadu_ps(lower + 2 * column + 8);
                const __m256 a = _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0));
                const __m256 b = _mm256_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
                const __m256 c = _mm256_shuffle_ps(l0, l1, _MM_SHUFFLE(2, 0, 2, 0));
                const __m256 d = _mm256_shuffle_ps(l0, l1, _MM_SHUFFLE(3, 1, 3, 1));
                unordered = _mm256_or_ps(unordered, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q),
                                                                 _mm256_cmp_ps(c, d, _CMP_UNORD_Q)));
                const __m256 take_b = _mm256_cmp_ps(b, a, _CMP_GT_OQ), take_d = _mm256_cmp_ps(d, c, _CMP_GT_OQ);
                const __m256 top = _mm256_blendv_ps(a, b, take_b), bottom = _mm256_blendv_ps(c, d, take_d);
                const __m256 take_lower = _mm256_cmp_ps(bottom, top, _CMP_GT_OQ);
                const __m256 best = _mm256_blendv_ps(top, bottom, take_lower);
                const __m256i upper_choice = _mm256_srli_epi32(_mm256_castps_si256(take_b), 31);
                const __m256i lower_choice =
                    _mm256_add_epi32(_mm256_srli_epi32(_mm256_castps_si256(take_d), 31), _mm256_set1_epi32((int)width));
                const __m256i choice = _mm256_blendv_epi8(upper_choice, lower_choice, _mm256_castps_si256(take_lower));
                _mm256_storeu_ps(values + column, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(best), IN_ORDER)));
                const __m256i position = _mm256_add_epi32(
                    _mm256_permute4x64_epi64(choice, IN_ORDER),
                    _mm256_add_epi32(lanes8, _mm256_set1_epi32(plane_row + 2 * (int)column)));
                _mm256_storeu_si256((__m256i *)(void *)(positions + column),
                                    _mm256_cvtepi32_epi64(_mm256_castsi256_si128(position)));
                _mm256_storeu_si256((__m256i *)(void *)(positions + column + 4),
                                    _mm256_cvtepi32_epi64(_mm256_extracti128_si256(position, 1)));
            }
        } else {
            for (long column = 0; column < output_width; column += 4) {
                if (column > output_width - 4) column = output_width - 4;
                const __m128 u0 = _mm_loadu_ps(upper + 2 * column), u1 = _mm_loadu_ps(upper + 2 * column + 4);
                const __m128 l0 = _mm_loadu_ps(lower + 2 * column), l1 = _mm_loadu_ps(lower + 2 * column + 4);
                const __m128 a = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0));
                const __m128 b = _mm_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1));
                const __m128 c = _mm_shuffle_ps(l0, l1, _MM_SHUFFLE(2, 0, 2, 0));
                const __m128 d = _mm_shuffle_ps(l0, l1, _MM_SHUFFLE(3, 1, 3, 1));
                unordered4 = _mm_or_ps(unordered4, _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d)));
                const __m128 take_b = _mm_cmpgt_ps(b, a), take_d = _mm_cmpgt_ps(d, c);
                const __m128 top = _mm_blendv_ps(a, b, take_b), bottom = _mm_blendv_ps(c, d, take_d);
                const __m128 take_lower = _mm_cmpgt_ps(bottom, top);
                _mm_storeu_ps(values + column, _mm_blendv_ps(top, bottom, take_lower));
                const __m128i upper_choice = _mm_srli_epi32(_mm_castps_si128(take_b), 31);
                const __m128i lower_choice =
                    _mm_add_epi32(_mm_srli_epi32(_mm_castps_si128(take_d), 31), _mm_set1_epi32((int)width));
                const __m128i choice = _mm_blendv_epi8(upper_choice, lower_choice, _mm_castps_si128(take_lower));
                const __m128i position =
                    _mm_add_epi32(choice, _mm_add_epi32(lanes4, _mm_set1_epi32(plane_row + 2 * (int)column)));
                _mm256_storeu_si256((__m256i *)(void *)(positions + column), _mm256_cvtepi32_epi64(position));
            }
        }
    }
    return _mm256_movemask_ps(unordered) == 0 && _mm_movemask_ps(unordered4) == 0;
}

int lucerna_max_pool_2x2_f32(const float *input, float *output, int64_t *indices, long first_row, long rows,
                             long output_height, long output_width) {
    if (!has_avx2() || output_width < 4 || output_height < 1) return -1;
    return forward_avx2(input, output, indices, first_row, rows, output_height, output_width);
}

/* Interleaves e and o: e0 o0 e1 o1 ... into two vectors of eight. */
__attribute__((target("avx2"))) static inline void store_interleaved(float *destination, __m256 e, __m256 o) {
    const __m256 low = _mm256_unpacklo_ps(e, o), high = _mm256_unpackhi_ps(e, o);
    _mm256_storeu_ps(destination, _mm256_permute2f128_ps(low, high, 0x20));
    _mm256_storeu_ps(destination + 8, _mm256_permute2f128_ps(low, high, 0x31));
}

/* The in-plane positions of four outputs as 32-bit integers in the low half. */
__attribute__((target("avx2"))) static inline __m256i narrow4(const int64_t *positions) {
    return _mm256_permutevar8x32_epi32(_mm256_loadu_si256((const __m256i *)(const void *)positions),
                                       _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
}

__attribute__((target("avx2"))) static void backward_avx2(const float *gradient, const int64_t *indices,
                                                           float *input_gradient, long first_row, long rows,
                                                           long output_height, long output_width) {
    const long width = 2 * output_width;
    const __m256i lanes8 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m128i lanes4 = _mm_setr_epi32(0, 2, 4, 6);
    for (long row = first_row; row < first_row + rows; row++) {
        const float *source = gradient + row * output_width;
        const int64_t *positions = indices + row * output_width;
        float *upper = input_gradient + 2 * row * width, *lower = upper + width;
        const int plane_row = (int)(2 * (row % output_height) * width);
        if (output_width >= 8) {
            const __m256i below = _mm256_set1_epi32((int)width), below_right = _mm256_set1_epi32((int)width + 1);
            for (long column = 0; column < output_width; column += 8) {
                if (column > output_width - 8) column = output_width - 8;
                const __m256 g = _mm256_loadu_ps(source + column);
                const __m256i chosen = _mm256_blend_epi32(narrow4(positions + column), narrow4(positions + column + 4), 0xF0);
                const __m256i choice =
                    _mm256_sub_epi32(chosen, _mm256_add_epi32(lanes8, _mm256_set1_epi32(plane_row + 2 * (int)column)));
                const __m256 a = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(choice, _mm256_setzero_si256())));
                const __m256 b = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(choice, _mm256_set1_epi32(1))));
                const __m256 c = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(choice, below)));
                const __m256 d = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(choice, below_right)));
                store_interleaved(upper + 2 * column, a, b);
                store_interleaved(lower + 2 * column, c, d);
            }
        } else {
            const __m128i below = _mm_set1_epi32((int)width), below_right = _mm_set1_epi32((int)width + 1);
            for (long column = 0; column < output_width; column += 4) {
                if (column > output_width - 4) column = output_width - 4;
                const __m128 g = _mm_loadu_ps(source + column);
                const __m128i choice =
                    _mm_sub_epi32(_mm256_castsi256_si128(narrow4(positions + column)),
                                  _mm_add_epi32(lanes4, _mm_set1_epi32(plane_row + 2 * (int)column)));
                const __m128 a = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, _mm_setzero_si128())));
                const __m128 b = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, _mm_set1_epi32(1))));
                const __m128 c = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, below)));
                const __m128 d = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(choice, below_right)));
                _mm_storeu_ps(upper + 2 * column, _mm_unpacklo_ps(a, b));
                _mm_storeu_ps(upper + 2 * column + 4, _mm_unpackhi_ps(a, b));
                _mm_storeu_ps(lower + 2 * column, _mm_unpacklo_ps(c, d));
                _mm_storeu_ps(lower + 2 * column + 4, _mm_unpackhi_ps(c, d));
            }
        }
    }
}

int lucerna_max_pool_2x2_backward_f32(const float *gradient, const int64_t *indices, float *input_gradient,
                                      long first_row, long rows, long output_height, long output_width) {
    if (!has_avx2() || output_width < 4 || output_height < 1) return 0;
    backward_avx2(gradient, indices, input_gradient, first_row, rows, output_height, output_width);
    return 1;
}
