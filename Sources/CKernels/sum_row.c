#include "CKernels.h"
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF

/* A Float row's sum in Double (`CKernels.h`): sixteen lanes at a time in two accumulators of eight (lane l of the
   first gets elements 16 i + l, of the second 16 i + 8 + l), then the two added lane by lane, the eight lanes
   summed in order from lane 0, and the tail added element by element. Both bodies perform exactly these
   additions, so they give the same bits. */

static double finish(const double first[8], const double second[8], const float *row, long k, long length) {
    double total = -0.0; /* -0 + x = x: as Swift's SIMD sum() starts */
    for (int lane = 0; lane < 8; lane++) total += first[lane] + second[lane];
    for (; k < length; k++) total += (double)row[k];
    return total;
}

double lucerna_sum_row_f32_scalar(const float *row, long length) {
    double first[8] = {0}, second[8] = {0};
    long k = 0;
    for (; k + 16 <= length; k += 16)
        for (int lane = 0; lane < 8; lane++) {
            first[lane] += (double)row[k + lane];
            second[lane] += (double)row[k + 8 + lane];
        }
    return finish(first, second, row, k, length);
}

__attribute__((target("avx2"))) static double sum_row_avx2(const float *row, long length) {
    __m256d first_low = _mm256_setzero_pd(), first_high = _mm256_setzero_pd();
    __m256d second_low = _mm256_setzero_pd(), second_high = _mm256_setzero_pd();
    long k = 0;
    for (; k + 16 <= length; k += 16) {
        first_low = _mm256_add_pd(first_low, _mm256_cvtps_pd(_mm_loadu_ps(row + k)));
        first_high = _mm256_add_pd(first_high, _mm256_cvtps_pd(_mm_loadu_ps(row + k + 4)));
        second_low = _mm256_add_pd(second_low, _mm256_cvtps_pd(_mm_loadu_ps(row + k + 8)));
        second_high = _mm256_add_pd(second_high, _mm256_cvtps_pd(_mm_loadu_ps(row + k + 12)));
    }
    double first[8], second[8];
    _mm256_storeu_pd(first, first_low);
    _mm256_storeu_pd(first + 4, first_high);
    _mm256_storeu_pd(second, second_low);
    _mm256_storeu_pd(second + 4, second_high);
    return finish(first, second, row, k, length);
}

double lucerna_sum_row_f32(const float *row, long length) {
    return __builtin_cpu_supports("avx2") ? sum_row_avx2(row, length) : lucerna_sum_row_f32_scalar(row, length);
}
