#include "CKernels.h"
#include <immintrin.h>
#include <math.h>

#pragma STDC FP_CONTRACT OFF

static void adamw_tail(float *p, const float *g, float *m, float *v, long start, long count, float shrink, float beta1,
                       float beta2, float one_minus1, float one_minus2, float step_size, float root2, float epsilon) {
    for (long i = start; i < count; i++) {
        float grad = g[i];
        float first = beta1 * m[i] + one_minus1 * grad;
        float second = beta2 * v[i] + one_minus2 * grad * grad;
        float parameter = p[i] * shrink;
        m[i] = first;
        v[i] = second;
        p[i] = parameter - step_size * first / (sqrtf(second) / root2 + epsilon);
    }
}

__attribute__((target("avx512f")))
static void adamw_avx512(float *p, const float *g, float *m, float *v, long count, float shrink, float beta1, float beta2,
                         float one_minus1, float one_minus2, float step_size, float root2, float epsilon) {
    const __m512 vs = _mm512_set1_ps(shrink), vb1 = _mm512_set1_ps(beta1), vb2 = _mm512_set1_ps(beta2);
    const __m512 vo1 = _mm512_set1_ps(one_minus1), vo2 = _mm512_set1_ps(one_minus2), vsize = _mm512_set1_ps(step_size);
    const __m512 vr = _mm512_set1_ps(root2), ve = _mm512_set1_ps(epsilon);
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 grad = _mm512_loadu_ps(g + i);
        __m512 first = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(vo1, grad));
        __m512 second = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(vo2, grad), grad));
        __m512 parameter = _mm512_mul_ps(_mm512_loadu_ps(p + i), vs);
        _mm512_storeu_ps(m + i, first);
        _mm512_storeu_ps(v + i, second);
        __m512 denominator = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(second), vr), ve);
        _mm512_storeu_ps(p + i, _mm512_sub_ps(parameter, _mm512_div_ps(_mm512_mul_ps(vsize, first), denominator)));
    }
    adamw_tail(p, g, m, v, i, count, shrink, beta1, beta2, one_minus1, one_minus2, step_size, root2, epsilon);
}

__attribute__((target("avx2")))
static void adamw_avx2(float *p, const float *g, float *m, float *v, long count, float shrink, float beta1, float beta2,
                       float one_minus1, float one_minus2, float step_size, float root2, float epsilon) {
    const __m256 vs = _mm256_set1_ps(shrink), vb1 = _mm256_set1_ps(beta1), vb2 = _mm256_set1_ps(beta2);
    const __m256 vo1 = _mm256_set1_ps(one_minus1), vo2 = _mm256_set1_ps(one_minus2), vsize = _mm256_set1_ps(step_size);
    const __m256 vr = _mm256_set1_ps(root2), ve = _mm256_set1_ps(epsilon);
    long i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 grad = _mm256_loadu_ps(g + i);
        __m256 first = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vo1, grad));
        __m256 second = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(vo2, grad), grad));
        __m256 parameter = _mm256_mul_ps(_mm256_loadu_ps(p + i), vs);
        _mm256_storeu_ps(m + i, first);
        _mm256_storeu_ps(v + i, second);
        __m256 denominator = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(second), vr), ve);
        _mm256_storeu_ps(p + i, _mm256_sub_ps(parameter, _mm256_div_ps(_mm256_mul_ps(vsize, first), denominator)));
    }
    adamw_tail(p, g, m, v, i, count, shrink, beta1, beta2, one_minus1, one_minus2, step_size, root2, epsilon);
}

void lucerna_adamw_f32(float *p, const float *g, float *m, float *v, long count, float shrink, float beta1,
                       float beta2, float one_minus1, float one_minus2, float step_size, float root2, float epsilon) {
    if (__builtin_cpu_supports("avx512f")) {
        adamw_avx512(p, g, m, v, count, shrink, beta1, beta2, one_minus1, one_minus2, step_size, root2, epsilon);
    } else if (__builtin_cpu_supports("avx2")) {
        adamw_avx2(p, g, m, v, count, shrink, beta1, beta2, one_minus1, one_minus2, step_size, root2, epsilon);
    } else {
        adamw_tail(p, g, m, v, 0, count, shrink, beta1, beta2, one_minus1, one_minus2, step_size, root2, epsilon);
    }
}

const char *lucerna_kernel_level(void) {
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
    return "scalar";
}

const char *lucerna_openblas_family(void) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (__builtin_cpu_supports("avx")) return "Sandybridge";
    return 0;
}
