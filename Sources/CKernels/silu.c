#include "CKernels.h"
#include <immintrin.h>
#include <math.h>

/* SiLU, x·σ(x) with σ(x) = 1 / (1 + e^{-x}), or its derivative σ(x)·(1 + x·e^{-x}·σ(x)) (1 − σ taken as e^{-x}·σ,
   which does not cancel where σ is near 1), over Float32 with AVX2 and FMA (`CKernels.h`). e^{-x} is Cephes'
   expf as `VectorExponential.swift` computes it: n = round(x·log₂e) by the 1.5·2²³ trick, r = x − n·ln 2 in two
   parts (Cody–Waite), e^r by its degree-6 minimax polynomial, 2ⁿ from the exponent bits; a block of eight with
   anything outside [−87, 88] (±∞, NaN, overflow) takes `expf` lane by lane, so e^{-x} = ∞ gives σ = 0 and NaN
   propagates. The tail after the last block of eight takes the same scalar formula.

   Reference: S. L. Moshier, Cephes Mathematical Library, `expf.c`; Elfwing, Uchibe & Doya, "Sigmoid-Weighted Linear
   Units for Neural Network Function Approximation in Reinforcement Learning", Neural Networks 107, 2018. */

static int has_avx2_fma(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

__attribute__((target("avx2,fma"))) static inline __m256 exponential8(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), magic);
    const __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_add_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(2.12194440e-4f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 polynomial = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i integers = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(integers, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(polynomial, scale);
}

static inline float scalar(float x, int derivative) {
    const float e = expf(-x), sigmoid = 1.0f / (1.0f + e);
    return derivative ? sigmoid * (1.0f + x * (isinf(e) ? 1.0f : e * sigmoid)) : x * sigmoid;
}

__attribute__((target("avx2,fma"))) static void silu_avx2(const float *input, float *output, long count,
                                                           int derivative) {
    const __m256 one = _mm256_set1_ps(1.0f), infinity = _mm256_set1_ps(INFINITY);
    const __m256 low = _mm256_set1_ps(-87.0f), high = _mm256_set1_ps(88.0f);
    long index = 0;
    for (; index + 8 <= count; index += 8) {
        const __m256 x = _mm256_loadu_ps(input + index);
        const __m256 minus = _mm256_sub_ps(_mm256_setzero_ps(), x);
        const __m256 inside = _mm256_and_ps(_mm256_cmp_ps(minus, low, _CMP_GE_OQ), _mm256_cmp_ps(minus, high, _CMP_LE_OQ));
        __m256 e;
        if (_mm256_movemask_ps(inside) == 0xFF) {
            e = exponential8(minus);
        } else {
            float lanes[8];
            _mm256_storeu_ps(lanes, minus);
            for (int lane = 0; lane < 8; lane++) lanes[lane] = expf(lanes[lane]);
            e = _mm256_loadu_ps(lanes);
        }
        const __m256 sigmoid = _mm256_div_ps(one, _mm256_add_ps(one, e));
        __m256 value;
        if (derivative) {
            const __m256 complement =
                _mm256_blendv_ps(_mm256_mul_ps(e, sigmoid), one, _mm256_cmp_ps(e, infinity, _CMP_EQ_OQ));
            value = _mm256_mul_ps(sigmoid, _mm256_fmadd_ps(x, complement, one));
        } else {
            value = _mm256_mul_ps(x, sigmoid);
        }
        _mm256_storeu_ps(output + index, value);
    }
    for (; index < count; index++) output[index] = scalar(input[index], derivative);
}

int lucerna_silu_f32(const float *input, float *output, long count, int derivative) {
    if (!has_avx2_fma()) return -1;
    silu_avx2(input, output, count, derivative);
    return 0;
}
