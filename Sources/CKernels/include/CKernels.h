#ifndef LUCERNA_CKERNELS_H
#define LUCERNA_CKERNELS_H
/* Hot elementwise kernels in C, so they can use AVX-512 or AVX2 where the CPU has them (chosen at run
   time with __builtin_cpu_supports); Swift code is compiled for the baseline x86-64 (SSE2). Each kernel
   performs exactly the same IEEE operations in the same order at every width (no FMA contraction), so
   results do not depend on the machine. */

/* One decoupled-weight-decay Adam (AdamW) step over `count` floats, PyTorch's order:
   p *= shrink; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
   p -= step_size * m / (sqrt(v) / root2 + epsilon). */
void lucerna_adamw_f32(float *p, const float *g, float *m, float *v, long count, float shrink, float beta1,
                       float beta2, float one_minus1, float one_minus2, float step_size, float root2, float epsilon);

/* Which implementation lucerna_adamw_f32 uses here: "avx512f", "avx2" or "scalar". */
const char *lucerna_kernel_level(void);

/* The newest OpenBLAS kernel family this CPU supports: "SkylakeX" (AVX-512 F, CD, BW, DQ, VL), "Haswell"
   (AVX2, FMA), "Sandybridge" (AVX), or NULL. */
const char *lucerna_openblas_family(void);
#endif
