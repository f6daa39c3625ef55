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

/* Direct 2-D convolution (float32, stride 1, dilation 1), the samples given one after another on the calling
   thread. Every output is its bias (or 0) followed by one fused multiply-add per tap in the order (c, kh, kw),
   so the same input window gives the same bits at every position, and the AVX-512, AVX2 and scalar bodies
   agree bit for bit. Each sample is copied into zero-padded planes and the outputs computed over the padded
   width (positions vectorised, four output channels at a time); tensors stay [N, C, H, W] on both sides.
   The weight is packed by lucerna_conv2d_pack_weight into [C, kh, kw, padded_outputs] with padded_outputs a
   multiple of 4 (zeros past `outputs`), the bias (if any) padded likewise; `scratch` holds
   lucerna_conv2d_direct_scratch(...) floats. */
void lucerna_conv2d_direct_f32(const float *input, long count, long channels, long height, long width,
                               const float *packed, const float *padded_bias, long outputs, long padded_outputs,
                               long kernel_h, long kernel_w, long pad_h, long pad_w, float *output,
                               float *scratch);

/* Floats of scratch lucerna_conv2d_direct_f32 needs. */
long lucerna_conv2d_direct_scratch(long channels, long height, long width, long kernel_h, long kernel_w, long pad_h,
                                   long pad_w, long padded_outputs);

/* Packs a weight for lucerna_conv2d_direct_f32. adjoint = 0: `weight` is [outputs, channels, kh, kw].
   adjoint = 1: `weight` is [channels, outputs, kh, kw] with the taps flipped, which makes the stride-1
   convolution of an output gradient (padded by kernel - 1 - padding) the gradient of the input. */
void lucerna_conv2d_pack_weight(const float *weight, long outputs, long channels, long kernel_h, long kernel_w,
                                int adjoint, long padded_outputs, float *packed);

/* Floats per vector of the direct convolution here: 16 (AVX-512), 8 (AVX2 with FMA), 0 (neither: the direct
   convolution is not used). */
long lucerna_conv2d_direct_lanes(void);

/* For tests: makes lucerna_conv2d_direct_lanes() return `lanes` (16, 8 or 1 for the scalar body) when this CPU
   can run that body, and returns 1; -1 restores the automatic choice. Returns 0 (and changes nothing) for a
   body the CPU cannot run. Not thread-safe: call it while no convolution runs. */
int lucerna_conv2d_direct_set_lanes(long lanes);

/* Which implementation lucerna_adamw_f32 uses here: "avx512f", "avx2" or "scalar". */
const char *lucerna_kernel_level(void);

/* The newest OpenBLAS kernel family this CPU supports: "SkylakeX" (AVX-512 F, CD, BW, DQ, VL), "Haswell"
   (AVX2, FMA), "Sandybridge" (AVX), or NULL. */
const char *lucerna_openblas_family(void);
#endif
