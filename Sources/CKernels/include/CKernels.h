#ifndef LUCERNA_CKERNELS_H
#define LUCERNA_CKERNELS_H
#include <stdint.h>
/* Hot elementwise kernels in C, so they can use AVX-512 or AVX2 where the CPU has them (chosen at run
   time with __builtin_cpu_supports); Swift code is compiled for the baseline x86-64 (SSE2). Each kernel
   performs exactly the same IEEE operations in the same order at every width (no FMA contraction), so
   results do not depend on the machine. */

/* One decoupled-weight-decay Adam (AdamW) step over `count` floats, PyTorch's order:
   p *= shrink; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
   p -= step_size * m / (sqrt(v) / root2 + epsilon). */
void lucerna_adamw_f32(float *p, const float *g, float *m, float *v, long count, float shrink, float beta1,
                       float beta2, float one_minus1, float one_minus2, float step_size, float root2, float epsilon);

/* Direct 2-D convolution (float32), `Sources/CKernels/convolution.c`. Every output is its bias (or 0) followed
   by one fused multiply-add per tap in a fixed order, so the same input window gives the same bits at every
   position of the same stride phase, and the AVX-512, AVX2 and scalar bodies agree bit for bit. Tensors stay
   [N, C, H, W] on both sides.

   A convolution with input [channels, height, width] per sample, weight [outputs, channels, kernel_h,
   kernel_w], stride, padding and dilation. */
#define LUCERNA_CONV2D_MAX_STRIDE 4
typedef struct {
    long channels, height, width, outputs, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h,
        dilation_w;
} LucernaConvolution;

/* Plans a convolution: transposed = 0 the forward pass ([outputs, Ho, Wo] from [channels, height, width], with
   `bias` [outputs] or NULL); transposed = 1 its adjoint in the input ([channels, height, width] from
   [outputs, Ho, Wo], `bias` [channels] or NULL; dilation 1 only), which is also PyTorch's conv_transpose2d with
   weight [in = outputs, out = channels, kh, kw]. The weight is packed into `memory` (64-byte aligned, for whole
   vectors of packed weights on cache lines). With memory NULL it
   returns the bytes the plan needs; 0 if the direct kernels do not take this convolution (no AVX2 or AVX-512,
   a stride above LUCERNA_CONV2D_MAX_STRIDE, a transposed dilation, an empty output). */
long lucerna_conv2d_plan(const LucernaConvolution *shape, int transposed, const float *weight, const float *bias,
                         void *memory);

/* Floats of scratch one lucerna_conv2d_plan_run call needs. */
long lucerna_conv2d_plan_scratch(const void *plan);

/* 1 when the plan puts its vectors over output channels (every real output position), 0 over positions. */
int lucerna_conv2d_plan_channel_vectors(const void *plan);

/* Multiply-adds one sample costs (for splitting work across threads). */
long lucerna_conv2d_plan_cost(const void *plan);

/* Runs a plan over `count` samples one after another on the calling thread (threads share the plan and each
   has its own scratch). Every output element is written. */
void lucerna_conv2d_plan_run(const void *plan, const float *input, long count, float *output, float *scratch);

/* The weight gradient of a forward plan (transposed = 0; its weight and bias are not used). A run over `count`
   samples adds each sample's products to `partial` (lucerna_conv2d_weight_size floats, zeroed before the first
   run; partials of several runs may be added element by element), in the order of samples and output positions
   — vectors over output channels, or for a stride-1 convolution with fewer than 64 taps eight sums per weight,
   each over every eighth position — so the AVX-512, AVX2 and scalar bodies agree bit for bit. With `bias`
   nonzero it also sums the output gradient per channel (the bias's gradient) in the same pass.
   lucerna_conv2d_weight_finish turns a partial into the gradient [outputs][channels][kernel_h][kernel_w] and,
   with bias_gradient not NULL, the bias's [outputs]. `scratch` holds lucerna_conv2d_weight_scratch floats. */
long lucerna_conv2d_weight_size(const void *plan);
long lucerna_conv2d_weight_scratch(const void *plan);
void lucerna_conv2d_weight_run(const void *plan, const float *input, const float *output_gradient, long count,
                               float *partial, int bias, float *scratch);
void lucerna_conv2d_weight_finish(const void *plan, const float *partial, float *weight_gradient,
                                  float *bias_gradient);

/* Floats per vector of the direct convolution here: 16 (AVX-512), 8 (AVX2 with FMA), 0 (neither: the direct
   convolution is not used). */
long lucerna_conv2d_direct_lanes(void);

/* For tests: makes lucerna_conv2d_direct_lanes() return `lanes` (16, 8 or 1 for the scalar body) when this CPU
   can run that body, and returns 1; -1 restores the automatic choice. Returns 0 (and changes nothing) for a
   body the CPU cannot run. Not thread-safe: call it while no convolution runs. */
int lucerna_conv2d_direct_set_lanes(long lanes);

/* For tests: with `on`, plans of sixteen lanes run the AVX-512 bodies' code (the same macros, blocks and tiles)
   with each vector made of two AVX2 registers, and lucerna_conv2d_direct_set_lanes(16) succeeds on a CPU with
   AVX2 and FMA but no AVX-512; 0 turns it off. Returns 0 (and changes nothing) without AVX2 and FMA. The
   emulation gives the AVX-512 bodies' bits. Not thread-safe. */
int lucerna_conv2d_direct_emulate_avx512(int on);

/* For tests: plans made after this call put vectors over output channels (mode 1: blocks of positions ×
   channels, every real output position) or over the planes' positions (mode 0) whenever the plan has vectors;
   -1 restores the automatic choice (the mode with fewer multiply-adds). Both modes give the same bits. Returns
   0 (and changes nothing) for another mode. Not thread-safe. */
int lucerna_conv2d_direct_set_channel_vectors(int mode);

/* 2×2, stride-2 max pooling of Float32 planes with even sides, `Sources/CKernels/max_pool.c`. Output rows
   first_row ..< first_row + rows of the flat [planes × output_height] (each reading input rows 2r and 2r + 1 of
   width 2 output_width); `codes` get each maximum's place in its window, one byte per output (0 top left, 1 top
   right, 2 bottom left, 3 bottom right), the first maximum in row-major order on ties. Returns 1 when done, 0
   when the rows hold a NaN (outputs then not final: the caller redoes them exactly), -1 when this CPU has no
   AVX2 or output_width < 4 (nothing written). With `relu` nonzero the outputs are ReLU'd as the engine's relu
   does (x <= 0 ? 0 : x; NaN never reaches it here). */
int lucerna_max_pool_2x2_available(void); /* 1 when this CPU runs these kernels (AVX2) */
int lucerna_max_pool_2x2_f32(const float *input, float *output, uint8_t *codes, long first_row, long rows,
                             long output_width, int relu);

/* Its input gradient for the same rows: every element of input rows 2r and 2r + 1 written, the output gradient
   at the place `codes` gives and zero elsewhere; with `active` (the ReLU'd outputs, or NULL) the output gradient
   is first taken only where active > 0, as the ReLU's backward does. Returns 0 (nothing written) under the same
   conditions as -1 above, else 1. */
int lucerna_max_pool_2x2_backward_f32(const float *gradient, const uint8_t *codes, const float *active,
                                      float *input_gradient, long first_row, long rows, long output_width);

/* SiLU x·σ(x) (derivative 0) or its derivative σ(x)·(1 + x·(1 − σ(x))) (derivative 1) of `count` floats,
   `Sources/CKernels/silu.c`: eight lanes with AVX2 and FMA; `input` and `output` may be the same buffer. Returns 0
   when done, -1 (nothing written) when this CPU has no AVX2 or FMA. */
int lucerna_silu_f32(const float *input, float *output, long count, int derivative);

/* The sum of `length` floats in Double, `Sources/CKernels/sum_row.c`: two accumulators of eight lanes over blocks
   of sixteen, added lane by lane, the lanes summed in order, then the tail; with AVX2 where the CPU has it, and
   the same bits from the scalar body (exported for tests). */
double lucerna_sum_row_f32(const float *row, long length);
double lucerna_sum_row_f32_scalar(const float *row, long length);

/* Which implementation lucerna_adamw_f32 uses here: "avx512f", "avx2" or "scalar". */
const char *lucerna_kernel_level(void);

/* The newest OpenBLAS kernel family this CPU supports: "SkylakeX" (AVX-512 F, CD, BW, DQ, VL), "Haswell"
   (AVX2, FMA), "Sandybridge" (AVX), or NULL. */
const char *lucerna_openblas_family(void);

/* The engine's worker threads, `Sources/CKernels/pool.c`. Runs body(context, k) for k in 0 ..< workers and returns
   when all have returned: k = 0 on the calling thread, k >= 1 on the pool's k-th thread, always the same thread
   for the same k (the pool starts threads as needed and keeps them). A call from inside a body, or while another
   thread's call runs, runs every k on the calling thread in order, so a body must not depend on running in
   parallel. */
typedef void (*lucerna_pool_body)(void *context, long worker);
void lucerna_pool_run(long workers, lucerna_pool_body body, void *context);

/* OpenMP's schedule(dynamic, grain) on the same threads: body(context, worker, start, end) over [0, count) in
   pieces of `grain` items (the last one shorter), each taken from a shared counter by whichever of the `workers`
   threads is free, so a thread slowed by other work on its core takes fewer pieces. Which thread runs a piece
   varies from run to run: for bodies whose result for an item does not depend on where it runs. */
typedef void (*lucerna_pool_range_body)(void *context, long worker, long start, long end);
void lucerna_pool_run_dynamic(long workers, long count, long grain, lucerna_pool_range_body body, void *context);

#endif
