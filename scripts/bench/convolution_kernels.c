/* Lucerna's direct convolution kernels against im2col + OpenBLAS SGEMM (one GEMM a sample, the im2col copy
   timed too) — forward, input gradient and weight gradient — on the shapes of the benchmark CNN and the GAN
   critics/generators: GFLOP/s of the best of 15 runs of a batch of 64, on one thread. The last column also gives
   the direct weight gradient's largest difference from im2col's, relative to the largest value. Lucerna against
   itself (the kernels in Sources/CKernels), not against PyTorch; BENCHMARKS.md has the figures.

   Build and run from the repository root (Debian: libopenblas-dev), with the flags SwiftPM compiles CKernels
   with in release builds (-O2 -fPIC -fno-omit-frame-pointer): the frame pointer takes a general register, and
   the register allocation of the kernels' inner loops, hence their speed, has differed between these flags and
   plain -O3 (a version measured 69 GFLOP/s at -O3 and 39 as the engine builds it):
     clang -O2 -fPIC -fno-omit-frame-pointer -ISources/CKernels/include scripts/bench/convolution_kernels.c \
       Sources/CKernels/convolution.c -lopenblas -lm -o /tmp/convolution_kernels && \
       OPENBLAS_NUM_THREADS=1 /tmp/convolution_kernels
   With LUCERNA_LANES=8 the direct kernels run their AVX2 body (on an AVX-512 machine too); with
   LUCERNA_CHANNEL_VECTORS=0 or 1 the forward and input-gradient kernels put their vectors over positions or over
   output channels (otherwise each plan takes the mode with fewer multiply-adds). */
#include "CKernels.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    long channels, height, width, kernel, stride, padding, output_height, output_width;
} Shape;

/* col[(c, i, j)][position] = padded input at the window of position, or its adjoint (accumulate into x). */
static void im2col(const Shape *s, const float *x, float *col, int adjoint) {
    if (adjoint) memset((void *)x, 0, sizeof(float) * (size_t)(s->channels * s->height * s->width));
    for (long c = 0; c < s->channels; c++)
        for (long i = 0; i < s->kernel; i++)
            for (long j = 0; j < s->kernel; j++) {
                float *row = col + ((c * s->kernel + i) * s->kernel + j) * s->output_height * s->output_width;
                for (long oh = 0; oh < s->output_height; oh++)
                    for (long ow = 0; ow < s->output_width; ow++) {
                        const long r = oh * s->stride - s->padding + i, q = ow * s->stride - s->padding + j;
                        const int inside = r >= 0 && r < s->height && q >= 0 && q < s->width;
                        float *value = (float *)x + (c * s->height + r) * s->width + q;
                        if (adjoint) {
                            if (inside) *value += row[oh * s->output_width + ow];
                        } else {
                            row[oh * s->output_width + ow] = inside ? *value : 0;
                        }
                    }
            }
}

static float *filled(long count) {
    float *values = malloc(sizeof(float) * (size_t)count);
    for (long i = 0; i < count; i++) values[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return values;
}

static void *plan(const LucernaConvolution *shape, int transposed, const float *weight, float **scratch) {
    const size_t bytes = (size_t)lucerna_conv2d_plan(shape, transposed, weight, NULL, NULL);
    void *memory = aligned_alloc(64, (bytes + 63) / 64 * 64); /* as the engine allocates plans */
    lucerna_conv2d_plan(shape, transposed, weight, NULL, memory);
    *scratch = malloc(sizeof(float) * (size_t)lucerna_conv2d_plan_scratch(memory));
    return memory;
}

static void run(const char *name, long count, long channels, long outputs, long side, long kernel, long stride,
                long padding) {
    const long output_side = (side + 2 * padding - kernel) / stride + 1;
    Shape s = {channels, side, side, kernel, stride, padding, output_side, output_side};
    LucernaConvolution shape = {channels, side, side, outputs, kernel, kernel, stride, stride, padding, padding, 1, 1};
    const long input = channels * side * side, positions = output_side * output_side;
    const long rows = channels * kernel * kernel;
    float *x = filled(count * input), *dy = filled(count * outputs * positions), *w = filled(outputs * rows);
    float *y = malloc(sizeof(float) * (size_t)(count * outputs * positions));
    float *dx = malloc(sizeof(float) * (size_t)(count * input)), *dw = malloc(sizeof(float) * (size_t)(outputs * rows));
    float *col = malloc(sizeof(float) * (size_t)(rows * positions)), *forward_scratch, *adjoint_scratch;
    void *forward = plan(&shape, 0, w, &forward_scratch), *adjoint = plan(&shape, 1, w, &adjoint_scratch);
    const long weight_size = lucerna_conv2d_weight_size(forward), lanes = lucerna_conv2d_direct_lanes();
    float *partial = malloc(sizeof(float) * (size_t)weight_size), *direct_dw = malloc(sizeof(float) * (size_t)(outputs * rows));
    float *weight_scratch = malloc(sizeof(float) * (size_t)lucerna_conv2d_weight_scratch(forward));
    double best[6] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9};
    for (int repeat = 0; repeat < 15; repeat++) {
        double t[7];
        t[0] = now();
        lucerna_conv2d_plan_run(forward, x, count, y, forward_scratch);
        t[1] = now();
        for (long n = 0; n < count; n++) {
            im2col(&s, x + n * input, col, 0);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)outputs, (int)positions, (int)rows, 1, w,
                        (int)rows, col, (int)positions, 0, y + n * outputs * positions, (int)positions);
        }
        t[2] = now();
        lucerna_conv2d_plan_run(adjoint, dy, count, dx, adjoint_scratch);
        t[3] = now();
        for (long n = 0; n < count; n++) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows, (int)positions, (int)outputs, 1, w,
                        (int)rows, dy + n * outputs * positions, (int)positions, 0, col, (int)positions);
            im2col(&s, dx + n * input, col, 1);
        }
        t[4] = now();
        memset(dw, 0, sizeof(float) * (size_t)(outputs * rows));
        for (long n = 0; n < count; n++) {
            im2col(&s, x + n * input, col, 0);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)outputs, (int)rows, (int)positions, 1,
                        dy + n * outputs * positions, (int)positions, col, (int)positions, 1, dw, (int)rows);
        }
        t[5] = now();
        memset(partial, 0, sizeof(float) * (size_t)weight_size);
        lucerna_conv2d_weight_run(forward, x, dy, count, partial, 0, weight_scratch);
        lucerna_conv2d_weight_finish(forward, partial, direct_dw, NULL);
        t[6] = now();
        for (int k = 0; k < 6; k++)
            if (t[k + 1] - t[k] < best[k]) best[k] = t[k + 1] - t[k];
    }
    double largest = 0; /* the direct weight gradient against im2col's, relative to the largest value */
    double scale = 0;
    for (long o = 0; o < outputs; o++)
        for (long t = 0; t < rows; t++) {
            const double a = direct_dw[o * rows + t], b = dw[o * rows + t];
            if (fabs(a - b) > largest) largest = fabs(a - b);
            if (fabs(b) > scale) scale = fabs(b);
        }
    const double gigaflop = 2.0 * (double)(count * outputs * rows * positions) / 1e9;
    printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f (%ld lanes, difference %.1e) |\n", name,
           gigaflop / best[0], gigaflop / best[1], gigaflop / best[2], gigaflop / best[3], gigaflop / best[4],
           gigaflop / best[5], lanes, largest / scale);
}

int main(void) {
    /* LUCERNA_LANES=8 measures the AVX2 body on an AVX-512 machine. */
    const char *lanes = getenv("LUCERNA_LANES");
    if (lanes && !lucerna_conv2d_direct_set_lanes(atol(lanes))) {
        fprintf(stderr, "this CPU cannot run the %s-lane body\n", lanes);
        return 1;
    }
    const char *mode = getenv("LUCERNA_CHANNEL_VECTORS");
    if (mode) lucerna_conv2d_direct_set_channel_vectors(atoi(mode));
    printf("direct convolution kernels: %ld floats a vector, vectors over %s; GFLOP/s, best of 15, batch 64, one "
           "thread\n\n",
           lucerna_conv2d_direct_lanes(),
           !mode ? "the cheaper of positions and channels" : atoi(mode) ? "channels" : "positions");
    printf("| convolution | forward direct | forward im2col | input gradient direct | input gradient im2col | "
           "weight gradient im2col | weight gradient direct |\n|---|---|---|---|---|---|---|\n");
    run("CNN conv1 1→32, 28×28, 3×3", 64, 1, 32, 28, 3, 1, 1);
    run("CNN conv2 32→64, 14×14, 3×3", 64, 32, 64, 14, 3, 1, 1);
    run("critic 2→64, 28×28, 4×4 stride 2", 64, 2, 64, 28, 4, 2, 1);
    run("critic 64→128, 14×14, 4×4 stride 2", 64, 64, 128, 14, 4, 2, 1);
    run("critic 128→256, 14×14, 4×4 stride 2", 64, 128, 256, 14, 4, 2, 1);
    return 0;
}
